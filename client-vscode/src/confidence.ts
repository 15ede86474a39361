/**
 * Graded backgrounds from `caveat/tokenConfidence`: which tokens get which shade. Pure module;
 * the theme colours live in package.json `contributes.colors`.
 */
import type { Level, LspRange, TokenConfidence } from './protocol';

/** Shades from faint to strong; each maps to one decoration type and one theme colour. */
export const GRADES = ['hint', 'information', 'warning'] as const satisfies readonly Level[];

export type Grade = (typeof GRADES)[number];

/** Theme colour id for a grade (declared in package.json). */
export function gradeColorId(grade: Grade): string {
  return `caveat.confidence.${grade}Background`;
}

/** Group token ranges by grade; confident tokens (level null) get no background. */
export function rangesByGrade(tokens: readonly TokenConfidence[]): Map<Grade, LspRange[]> {
  const out = new Map<Grade, LspRange[]>(GRADES.map((g) => [g, []]));
  for (const token of tokens) {
    if (token.level !== null && !isEmpty(token.range)) {
      out.get(token.level)?.push(token.range);
    }
  }
  return out;
}

/** Probability in percent of a token given its log-probability, for hover-less tooltips. */
export function percent(logprob: number): number {
  return Math.round(Math.exp(logprob) * 100);
}

function isEmpty(range: LspRange): boolean {
  return range.start.line === range.end.line && range.start.character === range.end.character;
}
