/**
 * A terminal screen for tests, as far as the demo's output goes: printable text, CR, LF, and the
 * control sequences cursor home (CSI H), cursor up to line start (CSI n F), erase in line
 * (CSI K) and below (CSI J), the alternate screen (CSI ?1049 h/l) and cursor visibility
 * (CSI ?25 h/l). Text wraps at the right edge (xterm's deferred wrap) and the screen scrolls at
 * the bottom, as a real terminal does; that is what turns a line longer than the terminal into
 * two rows, the cause of stale copies when a redraw counts one.
 */
export class VirtualTerminal {
  #main: string[][];
  #alternate: string[][] | undefined;
  #row = 0;
  #column = 0;
  #pendingWrap = false;
  #savedCursor = { row: 0, column: 0 };

  constructor(
    public columns: number,
    public rows: number,
  ) {
    this.#main = blank(columns, rows);
  }

  /** The screen in view, one string per row, trailing spaces removed. */
  screen(): string[] {
    return this.#buffer.map((cells) => cells.join('').trimEnd());
  }

  /** The rows in view up to the last one with text. */
  text(): string[] {
    const rows = this.screen();
    while (rows.length > 0 && rows.at(-1) === '') rows.pop();
    return rows;
  }

  get alternate(): boolean {
    return this.#alternate !== undefined;
  }

  /** A resize that crops or pads each row (no reflow), the cursor kept inside. */
  resize(columns: number, rows: number): void {
    const fitRows = (buffer: string[][]) =>
      Array.from({ length: rows }, (_, index) => {
        const cells = buffer[index] ?? [];
        return Array.from({ length: columns }, (__, column) => cells[column] ?? ' ');
      });
    this.#main = fitRows(this.#main);
    if (this.#alternate !== undefined) this.#alternate = fitRows(this.#alternate);
    this.columns = columns;
    this.rows = rows;
    this.#row = Math.min(this.#row, rows - 1);
    this.#column = Math.min(this.#column, columns - 1);
    this.#pendingWrap = false;
  }

  write(data: string): void {
    for (let index = 0; index < data.length; index += 1) {
      const char = data[index]!;
      if (char === '\x1b') {
        // eslint-disable-next-line no-control-regex -- ESC starts the escape sequences parsed here
        const match = /^\x1b\[(\??)(\d*)([A-Za-z])/.exec(data.slice(index));
        if (match === null) throw new Error(`unsupported escape sequence at ${JSON.stringify(data.slice(index, index + 12))}`);
        this.#control(match[1] === '?', match[2] === '' ? undefined : Number(match[2]), match[3]!);
        index += match[0].length - 1;
      } else if (char === '\r') {
        this.#column = 0;
        this.#pendingWrap = false;
      } else if (char === '\n') {
        this.#lineFeed();
      } else {
        this.#print(char);
      }
    }
  }

  get #buffer(): string[][] {
    return this.#alternate ?? this.#main;
  }

  #print(char: string): void {
    if (this.#pendingWrap) {
      this.#column = 0;
      this.#lineFeed();
    }
    this.#buffer[this.#row]![this.#column] = char;
    if (this.#column === this.columns - 1) this.#pendingWrap = true;
    else this.#column += 1;
  }

  /** LF as a terminal with ONLCR output sees it from a program: next row, first column. */
  #lineFeed(): void {
    this.#pendingWrap = false;
    this.#column = 0;
    if (this.#row < this.rows - 1) {
      this.#row += 1;
    } else {
      this.#buffer.shift();
      this.#buffer.push(Array.from({ length: this.columns }, () => ' '));
    }
  }

  #control(isPrivate: boolean, parameter: number | undefined, final: string): void {
    if (isPrivate) {
      if (parameter === 1049 && final === 'h' && this.#alternate === undefined) {
        this.#savedCursor = { row: this.#row, column: this.#column };
        this.#alternate = blank(this.columns, this.rows);
        this.#row = 0;
        this.#column = 0;
      } else if (parameter === 1049 && final === 'l' && this.#alternate !== undefined) {
        this.#alternate = undefined;
        ({ row: this.#row, column: this.#column } = this.#savedCursor);
      } else if (parameter !== 25) {
        throw new Error(`unsupported private sequence ?${String(parameter)}${final}`);
      }
      return;
    }
    this.#pendingWrap = false;
    const buffer = this.#buffer;
    switch (final) {
      case 'H':
        this.#row = 0;
        this.#column = 0;
        break;
      case 'F':
        this.#row = Math.max(0, this.#row - (parameter ?? 1));
        this.#column = 0;
        break;
      case 'K':
        for (let column = this.#column; column < this.columns; column += 1) buffer[this.#row]![column] = ' ';
        break;
      case 'J':
        for (let column = this.#column; column < this.columns; column += 1) buffer[this.#row]![column] = ' ';
        for (let row = this.#row + 1; row < this.rows; row += 1) buffer[row] = Array.from({ length: this.columns }, () => ' ');
        break;
      default:
        throw new Error(`unsupported sequence ${String(parameter ?? '')}${final}`);
    }
  }
}

function blank(columns: number, rows: number): string[][] {
  return Array.from({ length: rows }, () => Array.from({ length: columns }, () => ' '));
}
