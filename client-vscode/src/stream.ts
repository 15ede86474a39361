/**
 * One streamed completion as the client sees it: chunks arrive through `$/progress`, the final
 * response settles it. Pure (no VS Code import) so its rules are unit-tested.
 */
import type { CaveatCandidate, CaveatCompletion, CompletionChunk } from './protocol';

export type StreamListener = (stream: CompletionStream) => void;

/** Accumulates the chunks of one `caveat/complete` request and tells when to show them. */
export class CompletionStream {
  private chunks = '';
  private finalResult: CaveatCompletion | undefined;
  private failed = false;
  private cancelled = false;
  private chunkCount = 0;
  private readonly startedAt = Date.now();
  private firstShownAt: number | undefined;
  private shownBeforeEnd = false;
  private readonly listeners = new Set<StreamListener>();

  constructor(
    readonly key: string,
    readonly partialToken: string,
  ) {}

  /** Text known so far: the final text once settled, else the concatenated chunks. */
  get text(): string {
    return this.finalResult ? this.finalResult.text : this.chunks;
  }

  /** The final response, once it came. */
  get result(): CaveatCompletion | undefined {
    return this.finalResult;
  }

  /** True once the request answered (or failed). */
  get done(): boolean {
    return this.finalResult !== undefined || this.failed;
  }

  /** True when the first line is complete, or the whole completion is: time to show ghost text. */
  get firstLineReady(): boolean {
    // A leading blank line alone is no ghost text worth showing: wait for a line with content.
    return this.done || /\S[^\n]*\n/.test(this.chunks);
  }

  /** Text worth showing now: whole lines while streaming, everything once done. */
  get visibleText(): string {
    if (this.done) {
      return this.text;
    }
    // A half-written last line flickers as it grows; show whole lines until the end.
    if (!this.firstLineReady) {
      return '';
    }
    // Up to the last complete line, without its newline (an empty trailing ghost line looks odd).
    return this.chunks.slice(0, this.chunks.lastIndexOf('\n'));
  }

  /** Append one partial result (ignored after the final response). */
  addChunk(chunk: CompletionChunk): void {
    if (this.done) {
      return;
    }
    this.chunks += chunk.text;
    this.chunkCount += 1;
    this.emit();
  }

  /** Settle with the final response; its text wins over the chunks. */
  finish(result: CaveatCompletion): void {
    if (this.done) {
      return;
    }
    this.finalResult = result;
    this.emit();
  }

  /** Settle without a result: the request failed, or was `cancelled` by the client. */
  fail(cancelled = false): void {
    if (this.done) {
      return;
    }
    this.failed = true;
    this.cancelled = cancelled;
    this.emit();
  }

  /** True when the request failed with an error (not a cancellation): worth a fallback. */
  get errored(): boolean {
    return this.failed && !this.cancelled;
  }

  /** Note that ghost text from this stream is on screen now. */
  markShown(): void {
    if (this.firstShownAt === undefined) {
      this.firstShownAt = Date.now();
      this.shownBeforeEnd = !this.done;
    }
  }

  /** One log line: how the stream went (chunks, when ghost text first showed). */
  summary(): string {
    const shown =
      this.firstShownAt === undefined
        ? 'not shown'
        : `first shown after ${this.firstShownAt - this.startedAt} ms${this.shownBeforeEnd ? ', while streaming' : ''}`;
    const id = this.finalResult?.id ?? '?';
    return `caveat/complete ${id}: ${this.chunkCount} chunks, ${this.text.length} chars, ${shown}, done after ${Date.now() - this.startedAt} ms`;
  }

  /** Call `listener` on every change; returns a function that unsubscribes. */
  onChange(listener: StreamListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolve once the first line is ready (true) or `abort` fires first (false). */
  waitFirstLine(abort?: { onCancellationRequested(cb: () => void): { dispose(): void } }): Promise<boolean> {
    if (this.firstLineReady) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const sub = abort?.onCancellationRequested(() => {
        off();
        resolve(false);
      });
      const off = this.onChange((s) => {
        if (s.firstLineReady) {
          off();
          sub?.dispose();
          resolve(true);
        }
      });
    });
  }

  private emit(): void {
    for (const listener of [...this.listeners]) {
      listener(this);
    }
  }
}

/** Identity of a completion request: same document version and cursor = same stream. */
export function streamKey(uri: string, version: number, line: number, character: number): string {
  return `${uri}@${version}:${line}:${character}`;
}

/**
 * True when `typed` (what the user inserted on the ghost text's line since it was asked for)
 * is the start of that ghost text: the server's typed-ahead cache answers such a keystroke
 * without the model, so waiting out the debounce would only delay it.
 */
export function continuesGhostText(ghost: string, typed: string): boolean {
  return typed.length > 0 && !typed.includes('\n') && ghost.startsWith(typed);
}

/**
 * The candidates of a finished completion other than itself, in the server's order (most
 * confident first), without empty ones or repeats of a text already offered.
 */
export function otherCandidates(result: CaveatCompletion): CaveatCandidate[] {
  const seen = new Set([result.text]);
  const out: CaveatCandidate[] = [];
  for (const c of result.candidates ?? []) {
    if (c.id !== result.id && c.text && !seen.has(c.text)) {
      seen.add(c.text);
      out.push(c);
    }
  }
  return out;
}
