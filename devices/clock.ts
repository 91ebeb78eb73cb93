// Time and randomness for drivers. Drivers take a DeviceClock and a RandomSource instead of
// calling Date.now()/setTimeout/Math.random, so the simulator can run them in virtual time and
// replay a seed exactly. realTimeClock() is for real agents; ManualClock is for tests.
import type { Cancel } from './types.ts';

export interface DeviceClock {
  /** Milliseconds, monotonic; the origin is arbitrary. */
  now(): number;
  /** Calls fn every ms milliseconds (first call after ms). */
  every(ms: number, fn: () => void): Cancel;
  /** Calls fn once after ms milliseconds. */
  after(ms: number, fn: () => void): Cancel;
}

/** A uniform source in [0, 1). sim/engine/random.ts's Random satisfies it. */
export interface RandomSource {
  float(): number;
}

/** The wall clock, for drivers on a real device. */
export function realTimeClock(): DeviceClock {
  return {
    now: () => performance.now(),
    every(ms, fn) {
      const t = setInterval(fn, ms);
      return () => clearInterval(t);
    },
    after(ms, fn) {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
  };
}

interface Timer {
  at: number;
  seq: number;
  period: number; // 0: one-shot
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers due at the same instant run in the order they
 * were set. advance() runs every timer that falls due, including ones set by timers it runs.
 */
export class ManualClock implements DeviceClock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    return this.#add(ms, 0, fn);
  }

  every(ms: number, fn: () => void): Cancel {
    if (!(ms > 0)) throw new RangeError(`every(): period must be > 0, got ${ms}`);
    return this.#add(ms, ms, fn);
  }

  /** Number of pending timers (for tests that check nothing leaks). */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by ms, running due timers in time order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: Timer | undefined;
      for (const t of this.#timers) if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.#now = next.at;
      if (next.period > 0) {
        next.at += next.period;
        next.seq = this.#seq++;
      } else next.cancelled = true;
      next.fn();
    }
    this.#now = end;
  }

  #add(ms: number, period: number, fn: () => void): Cancel {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, period, fn, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
}

/** A small seeded generator (mulberry32) for tests and examples; the simulator passes its own. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return {
    float() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** A normally distributed sample (Box–Muller) with mean 0 and the given standard deviation. */
export function gaussian(rng: RandomSource, stddev: number): number {
  if (stddev === 0) return 0;
  const u = 1 - rng.float(); // (0, 1]
  const v = rng.float();
  return stddev * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
