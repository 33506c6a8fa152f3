/** Where the demo writes. */
export interface Output {
  write(text: string): unknown;
}

/** The terminal stdout is, when it is one: its size, and a way to hear it change. */
export interface Terminal {
  /** Columns and rows now (`undefined` when the terminal does not say). */
  size(): { columns: number | undefined; rows: number | undefined };
  /** Calls `listener` after each resize; returns a function that stops listening. */
  onResize(listener: () => void): () => void;
}

const ALTERNATE_SCREEN = '\x1b[?1049h';
const MAIN_SCREEN = '\x1b[?1049l';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE_RIGHT = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

/** Used when the terminal does not report its size. */
export const DEFAULT_SIZE = { columns: 80, rows: 24 };

/**
 * A panel redrawn in place on the terminal's alternate screen, like `top`: every frame starts
 * at the top-left corner and clears what it does not cover, lines are cut one column short of
 * the edge (so none wraps), and the frame stops at the last row (so the screen never scrolls).
 * Nothing of an earlier frame survives a redraw, whatever the width was then. `close()` goes
 * back to the main screen, as it was before.
 */
export class LiveScreen {
  #open = false;

  constructor(
    private readonly output: Output,
    private readonly terminal: Terminal,
  ) {}

  /** The width a frame may use now. */
  get width(): number {
    return Math.max(1, this.#size().columns - 1);
  }

  open(): void {
    if (this.#open) return;
    this.#open = true;
    this.output.write(ALTERNATE_SCREEN + HIDE_CURSOR);
  }

  /** Draws `lines` (made for `this.width`) as the whole screen. */
  draw(lines: readonly string[]): void {
    if (!this.#open) return;
    this.output.write(frame(lines, this.width, this.#size().rows));
  }

  /** The terminal's size, or the default for what it does not report (a pty may say 0). */
  #size(): { columns: number; rows: number } {
    const { columns, rows } = this.terminal.size();
    return { columns: columns !== undefined && columns > 0 ? columns : DEFAULT_SIZE.columns, rows: rows !== undefined && rows > 0 ? rows : DEFAULT_SIZE.rows };
  }

  /** Back to the main screen. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.output.write(SHOW_CURSOR + MAIN_SCREEN);
  }
}

/** The bytes of one frame: `lines` cut to `width` and to `rows`, from the top-left corner, the rest cleared. */
export function frame(lines: readonly string[], width: number, rows: number): string {
  const shown = lines.slice(0, Math.max(1, rows)).map((line) => (line.length > width ? line.slice(0, width) : line));
  // CR LF: the same whatever the terminal's output settings. None after the last row: on the
  // bottom row it would scroll the screen.
  return HOME + shown.join(`${CLEAR_LINE_RIGHT}\r\n`) + CLEAR_LINE_RIGHT + CLEAR_BELOW;
}
