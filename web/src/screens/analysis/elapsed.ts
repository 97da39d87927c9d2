// How long a running report has taken, as its progress line shows it.

/** Whole seconds from `startedAt` to `now` (both in milliseconds), never below zero: a
 * clock set back while a report runs shows 0, not a negative time. */
export function elapsedSeconds(startedAt: number, now: number): number {
  return Math.max(0, Math.floor((now - startedAt) / 1000));
}

/** Seconds as the progress line says them: `7 s`, `1 min 5 s`, `1 h 2 min`. */
export function formatElapsed(seconds: number): string {
  const whole = Number.isFinite(seconds) ? Math.max(0, Math.floor(seconds)) : 0;
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) {
    const rest = whole % 60;
    return rest === 0 ? `${Math.floor(whole / 60)} min` : `${Math.floor(whole / 60)} min ${rest} s`;
  }
  const minutes = Math.floor((whole % 3600) / 60);
  return minutes === 0 ? `${Math.floor(whole / 3600)} h` : `${Math.floor(whole / 3600)} h ${minutes} min`;
}

/** Milliseconds from `now` until the elapsed time next turns a whole second (a little after,
 * so the count has moved on when the timer fires). */
export function untilNextSecond(startedAt: number, now: number): number {
  const intoSecond = (((now - startedAt) % 1000) + 1000) % 1000;
  return 1000 - intoSecond + 10;
}
