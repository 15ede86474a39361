/** Finding the Python interpreter that runs `caveat serve`, and checking caveat is installed. */
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { chooseInterpreter, doctorArgs, probeArgs, type InterpreterChoice } from './interpreterChoice';

const PYTHON_EXTENSION_ID = 'ms-python.python';
const PROBE_TIMEOUT_MS = 30_000;
// `caveat doctor` loads the model (and may assemble it on first use): give it time.
const DOCTOR_TIMEOUT_MS = 300_000;

/** Resolve `caveat.interpreter`, else the Python extension's active interpreter, else python3. */
export async function resolveInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<InterpreterChoice> {
  const setting = vscode.workspace.getConfiguration('caveat', resource).get<string>('interpreter');
  const fromPython = setting?.trim() ? undefined : await pythonExtensionInterpreter(resource, log);
  return chooseInterpreter(setting, fromPython);
}

/** Ask the Python extension (when installed) for its active interpreter; undefined if none. */
async function pythonExtensionInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension(PYTHON_EXTENSION_ID);
  if (!ext) {
    return undefined;
  }
  try {
    const api: unknown = ext.isActive ? ext.exports : await ext.activate();
    return activePathFromApi(api, resource);
  } catch (err) {
    // The Python extension is optional: fall back to python3 rather than fail to start.
    log.warn(`Python extension did not give an interpreter: ${String(err)}`);
    return undefined;
  }
}

/** Read the active interpreter from the Python extension's API, new (environments) or old. */
function activePathFromApi(api: unknown, resource: vscode.Uri | undefined): string | undefined {
  const environments = field(api, 'environments');
  const getActive = field(environments, 'getActiveEnvironmentPath');
  if (typeof getActive === 'function') {
    const path = field(getActive.call(environments, resource) as unknown, 'path');
    if (typeof path === 'string' && path) {
      return path;
    }
  }
  const settings = field(api, 'settings');
  const getDetails = field(settings, 'getExecutionDetails');
  if (typeof getDetails === 'function') {
    const exec = field(getDetails.call(settings, resource) as unknown, 'execCommand');
    if (Array.isArray(exec) && typeof exec[0] === 'string') {
      return exec[0];
    }
  }
  return undefined;
}

function field(obj: unknown, name: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[name] : undefined;
}

export type ProbeResult = { ok: true } | { ok: false; missingInterpreter: boolean; detail: string };

/**
 * The folder the server runs in (and the probe, since Python puts it first on `sys.path`: a
 * probe run elsewhere could import a different caveat, or none).
 */
export function serverCwd(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  return folder?.uri.fsPath;
}

/** Check that `interpreter -c "import caveat"` succeeds where the server will run. */
export function probeCaveat(interpreter: string, cwd: string | undefined): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(interpreter, probeArgs(), { timeout: PROBE_TIMEOUT_MS, cwd }, (err, _stdout, stderr) => {
      if (!err) {
        resolve({ ok: true });
        return;
      }
      const missingInterpreter = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const detail = stderr.trim().split('\n').pop() ?? err.message;
      resolve({ ok: false, missingInterpreter, detail: detail || err.message });
    });
  });
}

/** Run `caveat doctor` in the interpreter; its report, or what went wrong, as text. */
export function runDoctor(interpreter: string, cwd: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    execFile(interpreter, doctorArgs(), { timeout: DOCTOR_TIMEOUT_MS, cwd }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const why = missing ? `${interpreter} was not found` : `exit ${String(err.code ?? err.signal)}`;
      resolve(`caveat doctor failed (${why}).\n${stdout}${stderr}`);
    });
  });
}
