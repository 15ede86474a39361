/** Extension entry point: wires the status bar, decorations, commands and the client controller. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Controller } from './controller';
import { ConfidenceDecorations } from './decorations';
import { ACCEPTED_COMMAND } from './inline';
import { ServerCommands } from './protocol';
import { resolveInterpreter, runDoctor, serverCwd } from './interpreter';
import { languageDisabled, toggledLanguages } from './interpreterChoice';
import { disabledView } from './status';
import { StatusBar } from './statusBar';

let controller: Controller | undefined;

/** Called by VS Code on the first document of a supported language. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('caveat', { log: true });
  const config = vscode.workspace.getConfiguration('caveat');
  const status = new StatusBar('caveat.showLogs');
  const decorations = new ConfidenceDecorations(config.get<boolean>('decorations.enabled', false));
  const ctl = new Controller(log, status, decorations);
  controller = ctl;

  const command = (id: string, run: (...args: unknown[]) => unknown): vscode.Disposable =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        await run(...args);
      } catch (err) {
        // A failed command must not take the extension down: log it and tell the user once.
        log.error(`${id} failed: ${String(err)}`);
        void vscode.window.showErrorMessage(`caveat: ${id} failed: ${String(err)}`);
      }
    });

  context.subscriptions.push(
    log,
    status,
    decorations,
    ctl,
    command('caveat.toggle', () => toggleSetting('enable', true)),
    command('caveat.toggleDecorations', () => toggleSetting('decorations.enabled', false)),
    command('caveat.restartServer', () => ctl.restart()),
    command('caveat.showLogs', () => {
      log.show(true);
    }),
    command('caveat.toggleLanguage', () => toggleLanguage()),
    command('caveat.suggest', () => ctl.completer.suggest()),
    command('caveat.nextCandidate', () => ctl.completer.next()),
    command('caveat.doctor', () => doctor(log)),
    command('caveat.scanFile', () => scanActiveFile(ctl)),
    command('caveat.clearHighlights', async () => {
      const uri = vscode.window.activeTextEditor?.document.uri;
      decorations.clear(uri);
      await ctl.serverCommand(ServerCommands.clear, uri ? [uri.toString()] : []);
    }),
    command(ACCEPTED_COMMAND, async (completionId) => {
      const result = await ctl.serverCommand(ServerCommands.accept, [{ completionId }]);
      log.info(`accepted ${String(completionId)}: ${JSON.stringify(result)}`);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => ctl.onConfigurationChanged(e)),
    vscode.window.onDidChangeTextEditorVisibleRanges((e) => {
      ctl.onVisibleRanges(e.textEditor);
    }),
  );

  if (config.get<boolean>('enable', true)) {
    void ctl.start();
  } else {
    status.show(disabledView());
  }
}

/** Called by VS Code on shutdown: stop the server process. */
export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}

async function toggleSetting(key: string, fallback: boolean): Promise<void> {
  const config = vscode.workspace.getConfiguration('caveat');
  await config.update(key, !config.get<boolean>(key, fallback), vscode.ConfigurationTarget.Global);
}

/** Turn caveat's completions off (or back on) for the active editor's language. */
async function toggleLanguage(): Promise<void> {
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  if (!languageId) {
    void vscode.window.showInformationMessage('caveat: open a file to toggle its language.');
    return;
  }
  const config = vscode.workspace.getConfiguration('caveat');
  const next = toggledLanguages(config.get<string[]>('disabledLanguages'), languageId);
  await config.update('disabledLanguages', next, vscode.ConfigurationTarget.Global);
  const state = languageDisabled(next, languageId) ? 'off' : 'on';
  void vscode.window.showInformationMessage(`caveat: completions ${state} for ${languageId}.`);
}

/** Run `caveat doctor` with the interpreter the server uses; show the report in the log. */
async function doctor(log: vscode.LogOutputChannel): Promise<void> {
  const choice = await resolveInterpreter(vscode.window.activeTextEditor?.document.uri, log);
  const report = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `caveat doctor (${choice.command})` },
    () => runDoctor(choice.command, serverCwd()),
  );
  log.info(`caveat doctor with ${choice.command}:\n${report}`);
  log.show(true);
}

async function scanActiveFile(ctl: Controller): Promise<void> {
  const document = vscode.window.activeTextEditor?.document;
  if (!document) {
    void vscode.window.showInformationMessage('caveat: open a file to scan.');
    return;
  }
  const result = await ctl.serverCommand(ServerCommands.scanDocument, [document.uri.toString()]);
  const spans = (result as { spans?: unknown } | undefined)?.spans;
  if (typeof spans === 'number') {
    const name = path.basename(document.uri.path);
    void vscode.window.showInformationMessage(`caveat: ${spans} uncertain span(s) in ${name}.`);
  }
}
