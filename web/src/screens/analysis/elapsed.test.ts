import { describe, expect, it } from "vitest";
import { elapsedSeconds, formatElapsed, untilNextSecond } from "./elapsed";

describe("elapsedSeconds", () => {
  it("counts whole seconds since the start", () => {
    expect(elapsedSeconds(10_000, 10_000)).toBe(0);
    expect(elapsedSeconds(10_000, 10_999)).toBe(0);
    expect(elapsedSeconds(10_000, 11_000)).toBe(1);
    expect(elapsedSeconds(10_000, 13_500)).toBe(3);
  });

  it("never goes below zero when the clock moves back", () => {
    expect(elapsedSeconds(10_000, 4_000)).toBe(0);
  });
});

describe("formatElapsed", () => {
  const check = (seconds: number, expected: string) => expect(formatElapsed(seconds)).toBe(expected);

  it("says seconds under a minute", () => {
    check(0, "0 s");
    check(3, "3 s");
    check(59, "59 s");
    check(3.9, "3 s");
  });

  it("says minutes and seconds under an hour", () => {
    check(60, "1 min");
    check(65, "1 min 5 s");
    check(3599, "59 min 59 s");
  });

  it("says hours and minutes beyond", () => {
    check(3600, "1 h");
    check(3661, "1 h 1 min");
    check(7322, "2 h 2 min");
  });

  it("treats nonsense as no time", () => {
    check(-5, "0 s");
    check(Number.NaN, "0 s");
    check(Number.POSITIVE_INFINITY, "0 s");
  });
});

describe("untilNextSecond", () => {
  it("waits until just past the next whole second of the run", () => {
    expect(untilNextSecond(10_000, 10_000)).toBe(1010);
    expect(untilNextSecond(10_000, 10_250)).toBe(760);
    expect(untilNextSecond(10_000, 12_999)).toBe(11);
  });

  it("still waits less than a second and a bit when the clock moved back", () => {
    expect(untilNextSecond(10_000, 9_750)).toBe(260);
  });
});
