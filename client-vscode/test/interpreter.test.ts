import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseInterpreter,
  doctorArgs,
  installCommand,
  languageDisabled,
  probeArgs,
  serverArgs,
  shellQuote,
  toggledLanguages,
} from '../src/interpreterChoice';

describe('chooseInterpreter', () => {
  const cases: [string | undefined, string | undefined, string, string][] = [
    ['/opt/py/bin/python', '/venv/bin/python', '/opt/py/bin/python', 'setting'],
    ['  ', '/venv/bin/python', '/venv/bin/python', 'python-extension'],
    [undefined, '/venv/bin/python', '/venv/bin/python', 'python-extension'],
    ['', undefined, 'python3', 'default'],
    [undefined, '', 'python3', 'default'],
  ];
  for (const [setting, ext, command, source] of cases) {
    it(`setting=${JSON.stringify(setting)} ext=${JSON.stringify(ext)} -> ${command}`, () => {
      assert.deepEqual(chooseInterpreter(setting, ext), { command, source });
    });
  }
});

describe('installCommand', () => {
  const cases: [string, boolean, string][] = [
    ['python3', false, 'python3 -m pip install caveat'],
    ['/home/me/.venv/bin/python', false, '/home/me/.venv/bin/python -m pip install caveat'],
    ['/home/me/my env/bin/python', false, "'/home/me/my env/bin/python' -m pip install caveat"],
    ["/tmp/it's/python", false, "'/tmp/it'\\''s/python' -m pip install caveat"],
    ['C:\\Program Files\\Python312\\python.exe', true, '"C:\\Program Files\\Python312\\python.exe" -m pip install caveat'],
  ];
  for (const [interpreter, windows, expected] of cases) {
    it(`${interpreter} -> ${expected}`, () => {
      assert.equal(installCommand(interpreter, windows), expected);
    });
  }

  it('leaves plain words unquoted', () => {
    assert.equal(shellQuote('py'), 'py');
  });
});

describe('server command line', () => {
  it('runs the caveat module over stdio, and probes with an import', () => {
    assert.deepEqual(serverArgs(), ['-m', 'caveat', 'serve']);
    assert.deepEqual(probeArgs(), ['-c', 'import caveat']);
  });
});

describe('per-language toggle', () => {
  it('adds a language, then removes it again, keeping the others', () => {
    const off = toggledLanguages(['markdown'], 'python');
    assert.deepEqual(off, ['markdown', 'python']);
    assert.equal(languageDisabled(off, 'python'), true);
    const on = toggledLanguages(off, 'python');
    assert.deepEqual(on, ['markdown']);
    assert.equal(languageDisabled(on, 'python'), false);
    assert.equal(languageDisabled(undefined, 'python'), false);
  });
});

describe('doctorArgs', () => {
  it('runs the caveat module in the interpreter', () => {
    assert.deepEqual(doctorArgs(), ['-m', 'caveat', 'doctor']);
  });
});
