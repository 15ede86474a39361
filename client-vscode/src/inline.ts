/**
 * Streaming inline completions. The language client registers the inline provider for the
 * server's document selector; its middleware hands each request to `InlineCompleter.provide`,
 * which asks `caveat/complete` with a partial-result token, shows ghost text once the first line
 * is ready, and re-triggers the inline suggestion as more lines stream in.
 */
import * as vscode from 'vscode';
import {
  ErrorCodes,
  ProgressType,
  ResponseError,
  type BaseLanguageClient,
  type Middleware,
} from 'vscode-languageclient/node';
import { languageDisabled } from './interpreterChoice';
import { Methods, type CaveatCompletion, type CompleteParams, type CompletionChunk } from './protocol';
import { CompletionStream, continuesGhostText, otherCandidates, streamKey } from './stream';

/** Client-side command an accepted inline item runs; it tells the server what was inserted. */
export const ACCEPTED_COMMAND = 'caveat.internal.accepted';

/** Shortest gap between two re-triggers of the ghost text while a completion streams. */
const RETRIGGER_MS = 100;

const chunkType = new ProgressType<CompletionChunk>();

/** The client's own inline request, which the middleware may fall back to (not exported by it). */
type NextInline = Parameters<NonNullable<Middleware['provideInlineCompletionItems']>>[4];

/** Serves inline completion requests from streamed `caveat/complete` results. */
export class InlineCompleter implements vscode.Disposable {
  private current: CompletionStream | undefined;
  /** Where `current` was asked for (document and cursor). */
  private currentAt: { uri: string; position: vscode.Position } | undefined;
  private currentCancel: vscode.CancellationTokenSource | undefined;
  private streamingSupported = true;
  private shownText = '';
  private shownComplete = false;
  private retriggerTimer: NodeJS.Timeout | undefined;
  private lastRetrigger = 0;
  // When the user last asked for candidates (`caveat.suggest`, Alt+\): the explicit request
  // that follows carries `n`. VS Code's own explicit requests (refreshes) cannot be told apart.
  private candidatesAskedAt = 0;
  // Whether the current stream asked for several candidates (a user's explicit trigger).
  private currentExplicit = false;
  private counter = 0;

  constructor(
    private readonly getClient: () => BaseLanguageClient | undefined,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Middleware entry point for `textDocument/inlineCompletion`. */
  readonly provide = async (
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: NextInline,
  ): Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined> => {
    const disabled = vscode.workspace.getConfiguration('caveat').get<string[]>('disabledLanguages');
    if (languageDisabled(disabled, document.languageId)) {
      return undefined; // `caveat: Toggle Completions for This Language`
    }
    const client = this.getClient();
    if (!client || !this.streamingSupported) {
      return next(document, position, context, token);
    }
    const key = streamKey(document.uri.toString(), document.version, position.line, position.character);
    const userExplicit =
      context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke &&
      Date.now() - this.candidatesAskedAt < ASK_WINDOW_MS;
    if (userExplicit) {
      this.candidatesAskedAt = 0;
    }
    // Alt+\ on a suggestion that came as you typed asks again, for several candidates.
    const reuse = this.current?.key === key && (!userExplicit || this.currentExplicit);
    let stream = reuse ? this.current : undefined;
    if (!stream) {
      // caveat/complete does not debounce (explicit requests should not wait), so typing does
      // it here, as the server does for automatic textDocument/inlineCompletion; except for a
      // key that continues the ghost text, which the server answers at once from its cache.
      const automatic = context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic;
      if (automatic && !this.typedAhead(document, position) && !(await pause(debounceMs(), token))) {
        return undefined;
      }
      stream = this.start(client, document, position, key, userExplicit);
    }
    if (!(await stream.waitFirstLine(token)) || token.isCancellationRequested) {
      return undefined;
    }
    if (stream.errored) {
      // Streaming failed (logged): the plain, non-streamed inline completion may still work.
      return next(document, position, context, token);
    }
    return this.items(stream, position);
  };

  /** True when the text typed since the current stream was asked for starts its ghost text. */
  private typedAhead(document: vscode.TextDocument, position: vscode.Position): boolean {
    const stream = this.current;
    const at = this.currentAt;
    const cacheOn = vscode.workspace.getConfiguration('caveat').get<boolean>('completion.typedAheadCache', true);
    if (!cacheOn || !stream || !at || at.uri !== document.uri.toString()) {
      return false;
    }
    if (at.position.line !== position.line || at.position.character >= position.character) {
      return false;
    }
    return continuesGhostText(stream.text, document.getText(new vscode.Range(at.position, position)));
  }

  /** `caveat.suggest` (Alt+\): ask now, for several candidates. */
  async suggest(): Promise<void> {
    this.candidatesAskedAt = Date.now();
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  }

  /** `caveat.nextCandidate` (Alt+]): the next candidate, asking for several first if needed. */
  async next(): Promise<void> {
    const result = this.current?.result;
    if (result && this.currentExplicit && otherCandidates(result).length > 0) {
      await vscode.commands.executeCommand('editor.action.inlineSuggest.showNext');
      return;
    }
    await this.suggest();
  }

  dispose(): void {
    this.currentCancel?.cancel();
    this.currentCancel?.dispose();
    clearTimeout(this.retriggerTimer);
  }

  private start(
    client: BaseLanguageClient,
    document: vscode.TextDocument,
    position: vscode.Position,
    key: string,
    explicit = false,
  ): CompletionStream {
    // The server cancels the older request for this document too; cancelling here also stops
    // waiting for it on our side.
    this.currentCancel?.cancel();
    this.currentCancel?.dispose();
    const cancel = new vscode.CancellationTokenSource();
    const stream = new CompletionStream(key, `caveat-inline-${++this.counter}`);
    this.current = stream;
    this.currentExplicit = explicit;
    this.currentAt = { uri: document.uri.toString(), position };
    this.currentCancel = cancel;
    this.shownText = '';
    this.shownComplete = false;
    const progress = client.onProgress(chunkType, stream.partialToken, (chunk) => {
      stream.addChunk(chunk);
    });
    const version = document.version;
    stream.onChange(() => {
      this.maybeRetrigger(stream, document, version, position);
    });
    const params: CompleteParams = {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
      position: { line: position.line, character: position.character },
      partialResultToken: stream.partialToken,
    };
    if (explicit) {
      // Asked for by the user (Alt+\): offer a few to cycle through, as the server does.
      params.n = explicitCandidates();
    }
    client
      .sendRequest<CaveatCompletion>(Methods.complete, params, cancel.token)
      .then(
        (result) => {
          stream.finish(result);
          this.log.info(stream.summary());
        },
        (err: unknown) => {
          if (err instanceof ResponseError && err.code === ErrorCodes.MethodNotFound) {
            this.log.warn('Server has no caveat/complete; using plain inline completion.');
            this.streamingSupported = false;
          } else if (!cancel.token.isCancellationRequested) {
            this.log.error(`caveat/complete failed: ${String(err)}`);
          }
          stream.fail(cancel.token.isCancellationRequested);
        },
      )
      .finally(() => {
        progress.dispose();
      });
    return stream;
  }

  private items(stream: CompletionStream, position: vscode.Position): vscode.InlineCompletionItem[] {
    const text = stream.visibleText;
    const failed = stream.done && !stream.result;
    if (!text || failed || stream.result?.stopReason === 'cancelled') {
      return [];
    }
    this.shownText = text;
    stream.markShown();
    const item = new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
    // Only the whole completion is reported as accepted: a half-streamed item carries no command,
    // since the server's provenance (and so its diagnostics) describes the full text.
    const result = stream.result;
    this.shownComplete = result !== undefined && text === result.text;
    if (result && this.shownComplete) {
      item.command = { title: 'Accept', command: ACCEPTED_COMMAND, arguments: [result.id] };
    }
    if (!result || !this.shownComplete) {
      return [item];
    }
    // The streamed completion stays first (it is on screen); VS Code cycles to the others
    // (Alt+] / Alt+[), which come in the server's order, most confident first.
    const others = candidateItems(result, position);
    return [item, ...others];
  }

  /**
   * Ask VS Code for the inline suggestion again when more text is visible than it shows, or when
   * the stream ended and the item on screen still lacks its accept command.
   */
  private maybeRetrigger(
    stream: CompletionStream,
    document: vscode.TextDocument,
    version: number,
    position: vscode.Position,
  ): void {
    const stale = stream.visibleText !== this.shownText || (stream.done && !this.shownComplete);
    if (stream !== this.current || !this.shownText || !stale) {
      return;
    }
    const wait = Math.max(0, this.lastRetrigger + RETRIGGER_MS - Date.now());
    clearTimeout(this.retriggerTimer);
    this.retriggerTimer = setTimeout(() => {
      const editor = vscode.window.activeTextEditor;
      const stillHere =
        stream === this.current &&
        editor?.document === document &&
        document.version === version &&
        editor.selection.active.isEqual(position);
      if (stillHere) {
        this.lastRetrigger = Date.now();
        void refreshInlineSuggestion();
      }
    }, wait);
  }
}

/** How long after `caveat.suggest` the explicit request it triggers may arrive (ms). */
const ASK_WINDOW_MS = 2000;

function debounceMs(): number {
  return vscode.workspace.getConfiguration('caveat').get<number>('completion.debounceMs', 75);
}

/** Wait `ms`; false if `token` was cancelled meanwhile (the user typed on). */
function pause(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  if (ms <= 0) {
    return Promise.resolve(!token.isCancellationRequested);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve(!token.isCancellationRequested);
    }, ms);
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve(false);
    });
  });
}

/**
 * Make VS Code ask the provider again at the same position. A plain explicit trigger is ignored
 * once an explicit request has answered for this position and version (VS Code reuses that
 * answer), so the shown suggestion is hidden first; the provider answers at once from the stream.
 */
async function refreshInlineSuggestion(): Promise<void> {
  await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
  await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
}

/** Candidates an explicit request asks for: the setting, but at least 3. */
export function explicitCandidates(): number {
  const setting = vscode.workspace.getConfiguration('caveat').get<number>('completion.candidates', 1);
  return Math.min(8, Math.max(3, setting));
}

/** Inline items for the candidates other than the streamed completion, in the server's order. */
export function candidateItems(result: CaveatCompletion, position: vscode.Position): vscode.InlineCompletionItem[] {
  return otherCandidates(result).map((c) => {
    const item = new vscode.InlineCompletionItem(c.text, new vscode.Range(position, position));
    item.command = { title: 'Accept', command: ACCEPTED_COMMAND, arguments: [c.id] };
    return item;
  });
}
