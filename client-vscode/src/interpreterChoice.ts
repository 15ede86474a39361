/** Which Python runs the server, and what to tell the user when caveat is missing. Pure module. */

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface InterpreterChoice {
  command: string;
  source: InterpreterSource;
}

/** `caveat.interpreter` first, then the Python extension's active interpreter, then `python3`. */
export function chooseInterpreter(
  setting: string | undefined,
  pythonExtension: string | undefined,
): InterpreterChoice {
  const configured = setting?.trim();
  if (configured) {
    return { command: configured, source: 'setting' };
  }
  const active = pythonExtension?.trim();
  if (active) {
    return { command: active, source: 'python-extension' };
  }
  return { command: 'python3', source: 'default' };
}

/** Quote a path for a POSIX or Windows shell only when it needs it. */
export function shellQuote(arg: string, windows = false): string {
  if (/^[\w@%+=:,./\\-]+$/.test(arg)) {
    return arg;
  }
  return windows ? `"${arg.replace(/"/g, '""')}"` : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The exact command that installs caveat into `interpreter`. */
export function installCommand(interpreter: string, windows = false): string {
  return `${shellQuote(interpreter, windows)} -m pip install caveat`;
}

/** Arguments that start the server over stdio. */
export function serverArgs(): string[] {
  return ['-m', 'caveat', 'serve'];
}

/** Arguments of the one-shot probe that checks caveat is importable. */
export function probeArgs(): string[] {
  return ['-c', 'import caveat'];
}

/** Arguments of `caveat doctor` (versions, model, llama.cpp, devices) in the interpreter. */
export function doctorArgs(): string[] {
  return ['-m', 'caveat', 'doctor'];
}

/** Whether completions are off for `languageId` by `caveat.disabledLanguages`. */
export function languageDisabled(disabled: readonly string[] | undefined, languageId: string): boolean {
  return (disabled ?? []).includes(languageId);
}

/** `disabled` with `languageId` added or removed: the per-language toggle. */
export function toggledLanguages(disabled: readonly string[] | undefined, languageId: string): string[] {
  const list = [...(disabled ?? [])];
  return list.includes(languageId) ? list.filter((l) => l !== languageId) : [...list, languageId].sort();
}
