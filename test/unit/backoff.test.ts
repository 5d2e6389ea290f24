import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay } from "../../src/core/backoff";

const MIN = 2000;
const MAX = 60000;

test("attempt 0 waits exactly minMs whatever the jitter", () => {
  assert.equal(backoffDelay(0, MIN, MAX, 0), MIN);
  assert.equal(backoffDelay(0, MIN, MAX, 0.999999), MIN);
});

test("ceiling doubles per attempt and is reached at random01 = 1", () => {
  const ceilings = [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, MIN, MAX, 1));
  assert.deepEqual(ceilings, [2000, 4000, 8000, 16000, 32000, 60000]);
});

test("delays stay within [minMs, min(maxMs, minMs * 2^attempt)] for any jitter", () => {
  let ceiling = MIN;
  for (let attempt = 0; attempt < 40; attempt++) {
    for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
      const d = backoffDelay(attempt, MIN, MAX, r);
      assert.ok(d >= MIN && d <= ceiling, "attempt " + attempt + " r " + r + " gave " + d);
      assert.equal(d, Math.floor(d));
    }
    ceiling = Math.min(MAX, ceiling * 2);
  }
});

test("full jitter spreads over the whole window", () => {
  // attempt 3: window [2000, 16000]
  assert.equal(backoffDelay(3, MIN, MAX, 0), 2000);
  assert.equal(backoffDelay(3, MIN, MAX, 0.5), 9000);
  assert.equal(backoffDelay(3, MIN, MAX, 0.25), 5500);
});

test("cap holds for huge attempt numbers without looping forever", () => {
  assert.equal(backoffDelay(1e9, MIN, MAX, 1), MAX);
  assert.equal(backoffDelay(1e9, MIN, MAX, 0), MIN);
  assert.equal(backoffDelay(64, MIN, Infinity, 0), MIN);
});

test("Retry-After is a lower bound, capped at maxMs", () => {
  assert.equal(backoffDelay(3, MIN, MAX, 0.5, 1000), 9000); // shorter than ours: ignored
  assert.equal(backoffDelay(3, MIN, MAX, 0.5, 20000), 20000); // longer: honoured
  assert.equal(backoffDelay(0, MIN, MAX, 0, 2500.2), 2501); // never below it
  assert.equal(backoffDelay(3, MIN, MAX, 0.5, 86400000), MAX); // absurd: capped
  assert.equal(backoffDelay(3, MIN, MAX, 0.5, NaN), 9000);
  assert.equal(backoffDelay(3, MIN, MAX, 0.5, -5), 9000);
});

test("bad inputs are sanitised instead of thrown", () => {
  assert.equal(backoffDelay(NaN, MIN, MAX, 0.5), MIN);
  assert.equal(backoffDelay(-3, MIN, MAX, 0.5), MIN);
  assert.equal(backoffDelay(2, MIN, MAX, NaN), MIN);
  assert.equal(backoffDelay(2, MIN, MAX, -1), MIN);
  assert.equal(backoffDelay(2, MIN, MAX, 7), 8000); // random01 above 1 counts as 1
  assert.equal(backoffDelay(5, MIN, 100, 1), MIN); // maxMs below minMs: minMs wins
  assert.equal(backoffDelay(2, -50, MAX, 1), 2); // negative minMs counts as 0
});
