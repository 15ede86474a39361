/**
 * Shapes of caveat's LSP extensions (docs/PROTOCOL.md). Pure types, no runtime code besides
 * method names, so that the unit tests can import them without a VS Code host.
 */

export type Level = 'hint' | 'information' | 'warning';

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

/** One generated token as the server reports it; `offset` is in UTF-16 units of `text`. */
export interface CaveatToken {
  text: string;
  offset: number;
  logprob: number;
  entropy: number;
  level: Level | null;
}

export interface CaveatTimings {
  queueMs: number;
  prefillMs: number;
  firstTokenMs: number;
  totalMs: number;
  tokensPerSecond: number;
}

/** Final result of `caveat/complete`. */
export interface CaveatCompletion {
  id: string;
  uri: string;
  version: number;
  position: LspPosition;
  text: string;
  stopReason: string;
  promptMode?: string;
  tokens: CaveatToken[];
  timings?: CaveatTimings;
  /** Every candidate, most confident first (this one among them); empty when there is one. */
  candidates?: CaveatCandidate[];
}

/** One of several suggestions for the same position, with its own id for `caveat.accept`. */
export interface CaveatCandidate {
  id: string;
  text: string;
  confidence: number;
  tokens: CaveatToken[];
}

/** Value of one `$/progress` partial result of `caveat/complete`. */
export interface CompletionChunk {
  id: string;
  text: string;
  tokens?: CaveatToken[];
}

export interface CompleteParams {
  textDocument: { uri: string };
  position: LspPosition;
  partialResultToken?: string;
  /** How many candidates (1-8); the server's `completion.candidates` when absent. */
  n?: number;
}

export interface TokenConfidence {
  range: LspRange;
  logprob: number;
  entropy: number;
  level: Level | null;
}

export interface TokenConfidenceParams {
  uri: string;
  version: number;
  tokens: TokenConfidence[];
}

export interface StatusParams {
  state: 'loading' | 'ready' | 'error';
  model: string;
  message?: string;
  /** Where the model runs: 'GPU' or 'CPU' in process, 'server' on a llama.cpp server. */
  device?: 'GPU' | 'CPU' | 'server';
  lastLatencyMs?: number;
  tokensPerSecond?: number;
}

/** `caveat/didView`: the lines on screen, which the server uses as context for completions. */
export interface DidViewParams {
  textDocument: { uri: string };
  ranges: LspRange[];
}

/** The visible ranges of an editor as `caveat/didView` params (at most 4). */
export function didViewParams(uri: string, ranges: readonly LspRange[]): DidViewParams {
  return { textDocument: { uri }, ranges: ranges.slice(0, 4) };
}

export const Methods = {
  complete: 'caveat/complete',
  didView: 'caveat/didView',
  tokenConfidence: 'caveat/tokenConfidence',
  status: 'caveat/status',
} as const;

/** Server-side commands, run through `workspace/executeCommand`. */
export const ServerCommands = {
  accept: 'caveat.accept',
  scanDocument: 'caveat.scanDocument',
  clear: 'caveat.clear',
} as const;
