import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRADES, gradeColorId, percent, rangesByGrade } from '../src/confidence';
import type { Level, TokenConfidence } from '../src/protocol';

function tok(line: number, start: number, end: number, level: Level | null): TokenConfidence {
  return {
    range: { start: { line, character: start }, end: { line, character: end } },
    logprob: -1,
    entropy: 1,
    level,
  };
}

describe('rangesByGrade', () => {
  it('groups uncertain tokens by level and skips confident and empty ones', () => {
    const grouped = rangesByGrade([
      tok(0, 0, 6, null),
      tok(0, 7, 8, 'warning'),
      tok(1, 4, 9, 'hint'),
      tok(1, 9, 12, 'warning'),
      tok(2, 3, 3, 'information'),
    ]);
    assert.deepEqual(
      [...grouped].map(([g, rs]) => [g, rs.map((r) => `${r.start.line}:${r.start.character}-${r.end.character}`)]),
      [
        ['hint', ['1:4-9']],
        ['information', []],
        ['warning', ['0:7-8', '1:9-12']],
      ],
    );
  });

  it('an empty list clears every grade', () => {
    const grouped = rangesByGrade([]);
    assert.deepEqual([...grouped.keys()], [...GRADES]);
    assert.ok([...grouped.values()].every((rs) => rs.length === 0));
  });
});

describe('theme colours and percentages', () => {
  it('names one contributed colour per grade', () => {
    assert.deepEqual(GRADES.map(gradeColorId), [
      'caveat.confidence.hintBackground',
      'caveat.confidence.informationBackground',
      'caveat.confidence.warningBackground',
    ]);
  });

  const cases: [number, number][] = [
    [0, 100],
    [Math.log(0.23), 23],
    [-10, 0],
  ];
  for (const [logprob, pct] of cases) {
    it(`logprob ${logprob.toFixed(3)} -> ${pct}%`, () => {
      assert.equal(percent(logprob), pct);
    });
  }
});
