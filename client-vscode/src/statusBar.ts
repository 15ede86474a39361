/** The status bar item: model loading, then model name, latency and speed; click shows logs. */
import * as vscode from 'vscode';
import type { StatusView } from './status';

/** Owns the one status bar item of the extension. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('caveat.status', vscode.StatusBarAlignment.Right, 100);

  constructor(showLogsCommand: string) {
    this.item.name = 'caveat';
    this.item.command = showLogsCommand;
    this.item.show();
  }

  /** Show a view computed by the pure status module. */
  show(view: StatusView): void {
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
