/** A small seeded pseudo-random generator (mulberry32), so that a failing workload can be replayed from its seed. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** An amount in [0, max], biased towards the edges 0 and max where limits are decided. */
  amount(max: number): number;
}

export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    amount: (max) => {
      const edge = next();
      if (edge < 0.1) return 0;
      if (edge < 0.2) return max;
      return int(0, max);
    },
  };
}

/** The seed of workload `index` of a run seeded with `seed`: each workload can be replayed on its own. */
export function workloadSeed(seed: number, index: number): number {
  return (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}
