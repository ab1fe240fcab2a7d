import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../config/config.js';

// Test-only: a production process must not be able to kill itself on cue.
// createApp loads this file only when MMK_FAULT_POINTS is set, and loadConfig
// already refuses that setting under NODE_ENV=production; this is the last guard.
if (process.env.NODE_ENV === 'production') {
  throw new Error('src/kernel/testing/fault-points.ts is test-only and refuses to load with NODE_ENV=production');
}

/** The steps of the kernel where a test may plant a fault. */
export const FAULT_POINTS = {
  /** A handler's transaction (with its inbox rows) has committed; the delivery is not yet acknowledged. */
  'event.after-commit': true,
  /** A handler is about to handle one event, inside its transaction. */
  'event.before-handle': true,
  /** move-data committed the copy in the target; the source is not yet marked moved. */
  'move-data.after-target-commit': true,
} as const;

export type FaultPointName = keyof typeof FAULT_POINTS;

/** What the kernel calls at a fault point; `subject` narrows it (a handler id). A delay makes it asynchronous. */
export interface FaultPoints {
  hit(point: FaultPointName, subject: string, detail: Record<string, unknown>): Promise<void> | void;
}

interface Rule {
  point: FaultPointName;
  subject: string | undefined;
  action: 'kill' | 'delay';
  /** kill: the hit that kills; delay: the milliseconds of every hit. */
  at: number;
  hits: number;
}

const RULE = /^([\w.-]+)(?::([\w.-]+))?=(kill|delay)@(\d+)$/;

/**
 * Reads `MMK_FAULT_POINTS`: comma-separated `<point>[:<subject>]=<action>@<n>`
 * rules. `kill@n` writes one JSON line to stdout (`"msg":"fault point hit"`,
 * with the point, the subject and the detail) and SIGKILLs the process at the
 * n-th hit, so nothing after that step runs. `delay@ms` waits that long at
 * every hit: a slow handler on cue, for overload tests.
 *
 * @example
 * // MMK_FAULT_POINTS=event.after-commit:catalog.reserve-stock=kill@3
 * const faults = parseFaultPoints(process.env.MMK_FAULT_POINTS!);
 * faults.hit('event.after-commit', 'catalog.reserve-stock', { eventIds });
 */
export function parseFaultPoints(spec: string): FaultPoints {
  const rules: Rule[] = spec.split(',').map((text) => {
    const match = RULE.exec(text.trim());
    if (!match || !(match[1]! in FAULT_POINTS) || Number(match[4]) < 1) {
      throw new ConfigError(`Invalid setting MMK_FAULT_POINTS: cannot read "${text}" (expected <point>[:<handler>]=kill@<n> or delay@<ms>, points: ${Object.keys(FAULT_POINTS).join(', ')})`);
    }
    return { point: match[1] as FaultPointName, subject: match[2], action: match[3] as Rule['action'], at: Number(match[4]), hits: 0 };
  });
  return {
    hit(point, subject, detail) {
      let delayMs = 0;
      for (const rule of rules) {
        if (rule.point !== point || (rule.subject !== undefined && rule.subject !== subject)) continue;
        rule.hits += 1;
        if (rule.action === 'delay') delayMs += rule.at;
        else if (rule.hits === rule.at) killNow({ point, subject, hit: rule.hits, ...detail });
      }
      return delayMs > 0 ? sleep(delayMs) : undefined;
    },
  };
}

function killNow(detail: Record<string, unknown>): never {
  // Synchronous, so the line is in the pipe before the process dies.
  writeSync(1, `${JSON.stringify({ level: 60, time: Date.now(), msg: 'fault point hit', ...detail })}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered on the way back from the system call; nothing after it may run meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  throw new Error('SIGKILL did not stop the process');
}
