import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLIENT_SETTING_KEYS, SERVER_SETTING_KEYS, serverSettingsTree } from '../src/settings';

// Compiled to out/test/: the extension folder is two levels up, the repository three.
const EXT_DIR = path.resolve(__dirname, '..', '..');
const REPO_DIR = path.resolve(EXT_DIR, '..');

interface JsonSetting {
  type: string;
  default: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
}

interface ServerSetting {
  key: string;
  type: string;
  default: unknown;
  choices: string[] | null;
  minimum: number | null;
  maximum: number | null;
}

function packageSettings(): Map<string, JsonSetting> {
  const pkg = JSON.parse(fs.readFileSync(path.join(EXT_DIR, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, JsonSetting> } };
  };
  const entries = Object.entries(pkg.contributes.configuration.properties);
  return new Map(entries.map(([k, v]) => [k.replace(/^caveat\./, ''), v]));
}

function pythonCommand(): string {
  const venv = path.join(REPO_DIR, '.venv', 'bin', 'python');
  return process.env.CAVEAT_PYTHON ?? (fs.existsSync(venv) ? venv : 'python3');
}

function serverSchema(): ServerSetting[] {
  const out = execFileSync(pythonCommand(), [
    path.join(EXT_DIR, 'test', 'dump_settings.py'),
    path.join(REPO_DIR, 'caveat', 'server', 'settings.py'),
  ]);
  return JSON.parse(out.toString('utf8')) as ServerSetting[];
}

describe('package.json settings mirror the server (caveat/server/settings.py)', () => {
  const pkg = packageSettings();
  const schema = serverSchema();

  it('declares exactly the server keys plus the client-only keys', () => {
    const expected = [...schema.map((s) => s.key), ...CLIENT_SETTING_KEYS].sort();
    assert.deepEqual([...pkg.keys()].sort(), expected);
    assert.deepEqual([...SERVER_SETTING_KEYS].sort(), schema.map((s) => s.key).sort());
  });

  for (const setting of schema) {
    it(`caveat.${setting.key} agrees in type, default, choices and bounds`, () => {
      const mine = pkg.get(setting.key);
      assert.ok(mine, `caveat.${setting.key} missing from package.json`);
      assert.deepEqual(
        {
          type: mine.type,
          default: mine.default,
          enum: mine.enum ?? null,
          minimum: mine.minimum ?? null,
          maximum: mine.maximum ?? null,
        },
        {
          type: setting.type,
          default: setting.default,
          enum: setting.choices,
          minimum: setting.minimum,
          maximum: setting.maximum,
        },
      );
    });
  }
});

describe('package.json settings match the table in docs/PROTOCOL.md', () => {
  it('has every documented key with its documented default', () => {
    const doc = fs.readFileSync(path.join(REPO_DIR, 'docs', 'PROTOCOL.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-zA-Z]+\.[a-zA-Z]+)` \| [^|]+ \| `([^`]*)` \|/gm)];
    assert.equal(rows.length, SERVER_SETTING_KEYS.length);
    const pkg = packageSettings();
    for (const [, key, raw] of rows) {
      assert.ok(key !== undefined && raw !== undefined);
      assert.deepEqual(pkg.get(key)?.default, JSON.parse(raw), `caveat.${key}`);
    }
  });
});

describe('serverSettingsTree', () => {
  it('nests the server keys by group and leaves out client-only keys', () => {
    const values: Record<string, unknown> = {
      'model.path': '/m.gguf',
      'completion.maxTokens': 32,
      'diagnostics.enabled': false,
      interpreter: '/usr/bin/python3',
      enable: true,
    };
    assert.deepEqual(
      serverSettingsTree((k) => values[k]),
      {
        model: { path: '/m.gguf' },
        completion: { maxTokens: 32 },
        diagnostics: { enabled: false },
      },
    );
  });

  it('is empty when nothing is set', () => {
    assert.deepEqual(serverSettingsTree(() => undefined), {});
  });
});
