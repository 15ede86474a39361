/** Lifecycle of the language client: start, stop, restart, and the server's notifications. */
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  type LanguageClient,
} from 'vscode-languageclient/node';
import { createClient, currentServerSettings } from './client';
import type { ConfidenceDecorations } from './decorations';
import { InlineCompleter } from './inline';
import { probeCaveat, resolveInterpreter, serverCwd } from './interpreter';
import { installCommand, type InterpreterChoice } from './interpreterChoice';
import { didViewParams, Methods, type StatusParams, type TokenConfidenceParams } from './protocol';
import { SERVER_SETTING_KEYS } from './settings';
import { disabledView, failedView, startingView, statusView } from './status';
import type { StatusBar } from './statusBar';

/** Scrolling settles for this long before the visible lines are sent (ms). */
const VIEW_DEBOUNCE_MS = 400;

/** Owns the running client (at most one) and reacts to settings changes. */
export class Controller implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  private warnedMissing = false;
  private viewTimer: NodeJS.Timeout | undefined;
  readonly completer: InlineCompleter;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly status: StatusBar,
    private readonly decorations: ConfidenceDecorations,
  ) {
    this.completer = new InlineCompleter(() => this.client, log);
  }

  /**
   * Tell the server which lines the user has on screen (debounced): regions of other files
   * viewed recently become context for completions.
   */
  onVisibleRanges(editor: vscode.TextEditor): void {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => {
      const client = this.client;
      if (!client || editor.document.uri.scheme !== 'file') {
        return;
      }
      const ranges = editor.visibleRanges.map((r) => ({
        start: { line: r.start.line, character: 0 },
        end: { line: r.end.line, character: 0 },
      }));
      const uri = client.code2ProtocolConverter.asUri(editor.document.uri);
      void client.sendNotification(Methods.didView, didViewParams(uri, ranges));
    }, VIEW_DEBOUNCE_MS);
  }

  /** Start the server unless it runs already (or is starting). */
  start(): Promise<void> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Stop the server; the status bar says caveat is off. */
  async stop(): Promise<void> {
    await this.starting;
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop();
      } catch (err) {
        this.log.warn(`Stopping the server: ${String(err)}`);
      }
    }
    this.decorations.clear();
    this.status.show(disabledView());
  }

  /** Stop and start again, re-resolving the interpreter. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Run one of the server's `workspace/executeCommand` commands. */
  async serverCommand(command: string, args: unknown[]): Promise<unknown> {
    if (!this.client?.isRunning()) {
      void vscode.window.showWarningMessage('caveat: the server is not running.');
      return undefined;
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /** React to `caveat.*` settings changes. */
  async onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    const config = vscode.workspace.getConfiguration('caveat');
    if (event.affectsConfiguration('caveat.decorations.enabled')) {
      this.decorations.setEnabled(config.get<boolean>('decorations.enabled', false));
    }
    if (event.affectsConfiguration('caveat.enable')) {
      await (config.get<boolean>('enable', true) ? this.start() : this.stop());
      return;
    }
    if (event.affectsConfiguration('caveat.interpreter')) {
      this.log.info('caveat.interpreter changed: restarting the server');
      await this.restart();
      return;
    }
    const serverChanged = SERVER_SETTING_KEYS.some((k) => event.affectsConfiguration(`caveat.${k}`));
    if (serverChanged && this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { caveat: currentServerSettings() },
      });
    }
  }

  dispose(): void {
    clearTimeout(this.viewTimer);
    this.completer.dispose();
    void this.client?.stop();
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    this.status.show(startingView());
    const choice = await resolveInterpreter(vscode.window.activeTextEditor?.document.uri, this.log);
    this.log.info(`Python interpreter (${choice.source}): ${choice.command}`);
    const cwd = serverCwd();
    const probe = await probeCaveat(choice.command, cwd);
    if (!probe.ok) {
      this.log.error(`caveat is not importable with ${choice.command}: ${probe.detail}`);
      this.status.show(failedView(`caveat is not importable with ${choice.command}`));
      this.warnMissing(choice, probe.missingInterpreter);
      return;
    }
    const client = createClient(choice.command, cwd, this.log, this.completer);
    client.onNotification(Methods.status, (params: StatusParams) => {
      this.status.show(statusView(params));
    });
    client.onNotification(Methods.tokenConfidence, (params: TokenConfidenceParams) => {
      this.decorations.update(params);
    });
    this.client = client;
    try {
      await client.start();
    } catch (err) {
      this.log.error(`The caveat server did not start: ${String(err)}`);
      this.status.show(failedView(`The caveat server did not start: ${String(err)}`));
      this.client = undefined;
    }
  }

  /** One notification per session: what is wrong, the exact fix, and a way to change it. */
  private warnMissing(choice: InterpreterChoice, missingInterpreter: boolean): void {
    if (this.warnedMissing) {
      return;
    }
    this.warnedMissing = true;
    const install = installCommand(choice.command, process.platform === 'win32');
    const message = missingInterpreter
      ? `caveat: the Python interpreter "${choice.command}" was not found. Set "caveat.interpreter" to a Python with caveat installed.`
      : `caveat is not installed for ${choice.command}. Install it with: ${install}`;
    const openSettings = 'Open Settings';
    const copy = 'Copy Install Command';
    const buttons = missingInterpreter ? [openSettings] : [openSettings, copy];
    void vscode.window.showErrorMessage(message, ...buttons).then(async (pick) => {
      if (pick === openSettings) {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'caveat.interpreter');
      } else if (pick === copy) {
        await vscode.env.clipboard.writeText(install);
      }
    });
  }
}
