/** Graded background decorations drawn from `caveat/tokenConfidence` (toggle: decorations.enabled). */
import * as vscode from 'vscode';
import { GRADES, gradeColorId, rangesByGrade, type Grade } from './confidence';
import type { LspRange, TokenConfidenceParams } from './protocol';

/** Keeps the latest token confidences per document and paints visible editors with them. */
export class ConfidenceDecorations implements vscode.Disposable {
  private readonly types: Map<Grade, vscode.TextEditorDecorationType>;
  private readonly latest = new Map<string, TokenConfidenceParams>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private enabled: boolean) {
    this.types = new Map(
      GRADES.map((grade) => [
        grade,
        vscode.window.createTextEditorDecorationType({
          backgroundColor: new vscode.ThemeColor(gradeColorId(grade)),
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        }),
      ]),
    );
    this.subscriptions.push(
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        editors.forEach((e) => {
          this.paint(e);
        });
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => this.latest.delete(doc.uri.toString())),
    );
  }

  /** Replace a document's token list (the server always sends the full current list). */
  update(params: TokenConfidenceParams): void {
    const uri = vscode.Uri.parse(params.uri).toString();
    this.latest.set(uri, params);
    this.editorsFor(uri).forEach((e) => {
      this.paint(e);
    });
  }

  /** Switch the backgrounds on or off everywhere. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    vscode.window.visibleTextEditors.forEach((e) => {
      this.paint(e);
    });
  }

  /** Forget one document's confidences (or all) and remove their backgrounds. */
  clear(uri?: vscode.Uri): void {
    if (uri) {
      this.latest.delete(uri.toString());
    } else {
      this.latest.clear();
    }
    vscode.window.visibleTextEditors.forEach((e) => {
      this.paint(e);
    });
  }

  dispose(): void {
    this.types.forEach((t) => {
      t.dispose();
    });
    this.subscriptions.forEach((s) => {
      s.dispose();
    });
  }

  private editorsFor(uri: string): readonly vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((e) => e.document.uri.toString() === uri);
  }

  private paint(editor: vscode.TextEditor): void {
    const params = this.latest.get(editor.document.uri.toString());
    if (params && params.version !== editor.document.version) {
      // Stale list: the editor already moved the old decorations along with the edit, and the
      // server sends a fresh list for the new version.
      return;
    }
    const grouped = this.enabled && params ? rangesByGrade(params.tokens) : new Map<Grade, LspRange[]>();
    for (const [grade, type] of this.types) {
      editor.setDecorations(type, (grouped.get(grade) ?? []).map(toRange));
    }
  }
}

function toRange(r: LspRange): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}
