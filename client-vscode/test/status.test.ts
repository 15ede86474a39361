import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusParams } from '../src/protocol';
import { failedView, statusView } from '../src/status';

describe('statusView', () => {
  const cases: [StatusParams, string, boolean][] = [
    [{ state: 'loading', model: 'gemma-3-270m' }, '$(sync~spin) caveat: loading gemma-3-270m', false],
    [{ state: 'ready', model: 'gemma-3-270m' }, '$(check) gemma-3-270m', false],
    [
      { state: 'ready', model: 'gemma-3-270m', lastLatencyMs: 181.6, tokensPerSecond: 79.6 },
      '$(check) gemma-3-270m · 182 ms · 80 tok/s',
      false,
    ],
    [{ state: 'ready', model: 'm', lastLatencyMs: 12, tokensPerSecond: 0 }, '$(check) m · 12 ms', false],
    [{ state: 'ready', model: 'm', device: 'GPU', lastLatencyMs: 12 }, '$(check) m · GPU · 12 ms', false],
    [{ state: 'error', model: 'm.gguf', message: 'not a GGUF file' }, '$(error) caveat: m.gguf', true],
  ];
  for (const [params, text, error] of cases) {
    it(`${params.state} -> ${text}`, () => {
      const view = statusView(params);
      assert.equal(view.text, text);
      assert.equal(view.error, error);
    });
  }

  it('carries the server message into the tooltip', () => {
    assert.equal(statusView({ state: 'error', model: 'm', message: 'not a GGUF file' }).tooltip, 'not a GGUF file');
    assert.match(statusView({ state: 'loading', model: 'm', message: 'assembling 40%' }).tooltip, /assembling 40%/);
  });

  it('client-side failures are errors', () => {
    assert.equal(failedView('no python').error, true);
  });
});
