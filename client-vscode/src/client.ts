/** Builds the language client that runs `python -m caveat serve` over stdio. */
import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import type { InlineCompleter } from './inline';
import { serverArgs } from './interpreterChoice';
import { serverSettingsTree } from './settings';

/** Languages the server has grammars for (LSP languageIds). */
export const LANGUAGES = ['python', 'javascript', 'typescript', 'rust', 'go', 'java', 'c', 'cpp'];

/** The server's part of the `caveat` settings, nested as the server expects. */
export function currentServerSettings(): Record<string, Record<string, unknown>> {
  const config = vscode.workspace.getConfiguration('caveat');
  return serverSettingsTree((key) => config.get(key));
}

/** A language client for `interpreter -m caveat serve`, not yet started. */
export function createClient(
  interpreter: string,
  cwd: string | undefined,
  log: vscode.LogOutputChannel,
  completer: InlineCompleter,
): LanguageClient {
  const serverOptions: ServerOptions = {
    command: interpreter,
    args: serverArgs(),
    transport: TransportKind.stdio,
    options: { cwd },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: currentServerSettings(),
    outputChannel: log,
    middleware: {
      provideInlineCompletionItems: completer.provide,
      // The server's textDocument/completion is a fallback for editors without ghost text; in
      // VS Code it would only repeat the inline suggestion in the suggest widget.
      provideCompletionItem: () => undefined,
      workspace: {
        // Answer `workspace/configuration` for `caveat` with the server's keys only (the
        // client-only keys would be unknown settings to the server).
        configuration: (params, token, next) => {
          const fromEditor = next(params, token);
          return Promise.resolve(fromEditor).then((values) =>
            Array.isArray(values)
              ? params.items.map((item, i): unknown =>
                  item.section === 'caveat' ? currentServerSettings() : (values as unknown[])[i],
                )
              : values,
          );
        },
      },
    },
  };
  return new LanguageClient('caveat', 'caveat', serverOptions, clientOptions);
}
