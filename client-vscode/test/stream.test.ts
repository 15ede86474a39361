import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { didViewParams, type CaveatCompletion } from '../src/protocol';
import { CompletionStream, continuesGhostText, otherCandidates, streamKey } from '../src/stream';

function final(text: string, stopReason = 'eos'): CaveatCompletion {
  return { id: 'c1', uri: 'file:///a.py', version: 1, position: { line: 0, character: 0 }, text, stopReason, tokens: [] };
}

function feed(chunks: string[]): CompletionStream {
  const s = new CompletionStream('k', 't');
  chunks.forEach((text) => {
    s.addChunk({ id: 'c1', text });
  });
  return s;
}

describe('CompletionStream while streaming', () => {
  const cases: [string[], boolean, string][] = [
    [[], false, ''],
    [['ret', 'urn a'], false, ''],
    [['return a', '\n'], true, 'return a'],
    [['\n', '    '], false, ''],
    [['\n    x = 1\n', '    y'], true, '\n    x = 1'],
    [['a\nb\nc'], true, 'a\nb'],
    [['é', 'ü\n'], true, 'éü'],
  ];
  for (const [chunks, ready, visible] of cases) {
    it(`${JSON.stringify(chunks)} -> ready=${ready} visible=${JSON.stringify(visible)}`, () => {
      const s = feed(chunks);
      assert.equal(s.firstLineReady, ready);
      assert.equal(s.visibleText, visible);
      assert.equal(s.text, chunks.join(''));
      assert.equal(s.done, false);
    });
  }
});

describe('CompletionStream once settled', () => {
  it('shows the whole final text, which wins over the chunks', () => {
    const s = feed(['retu']);
    s.finish(final('return a + b'));
    assert.equal(s.done, true);
    assert.equal(s.firstLineReady, true);
    assert.equal(s.visibleText, 'return a + b');
    assert.equal(s.result?.id, 'c1');
  });

  it('ignores chunks and a second result after the first', () => {
    const s = feed(['x']);
    s.finish(final('x'));
    s.addChunk({ id: 'c1', text: 'y' });
    s.finish(final('other'));
    assert.equal(s.text, 'x');
  });

  it('a failure settles without a result and asks for a fallback', () => {
    const s = feed(['x']);
    s.fail();
    assert.equal(s.done, true);
    assert.equal(s.result, undefined);
    assert.equal(s.errored, true);
  });

  it('a cancellation settles without asking for a fallback', () => {
    const s = feed(['x']);
    s.fail(true);
    assert.equal(s.done, true);
    assert.equal(s.errored, false);
  });
});

describe('CompletionStream.waitFirstLine', () => {
  it('resolves true when a line completes', async () => {
    const s = new CompletionStream('k', 't');
    const waiting = s.waitFirstLine();
    s.addChunk({ id: 'c', text: 'def f():' });
    s.addChunk({ id: 'c', text: '\n    ' });
    assert.equal(await waiting, true);
  });

  it('resolves true at once when already ready', async () => {
    const s = feed(['a\n']);
    assert.equal(await s.waitFirstLine(), true);
  });

  it('resolves false when cancelled first, and stops listening', async () => {
    const s = new CompletionStream('k', 't');
    let cancel: (() => void) | undefined;
    let disposed = false;
    const abort = {
      onCancellationRequested(cb: () => void) {
        cancel = cb;
        return {
          dispose() {
            disposed = true;
          },
        };
      },
    };
    const waiting = s.waitFirstLine(abort);
    cancel?.();
    assert.equal(await waiting, false);
    s.addChunk({ id: 'c', text: 'late\n' });
    assert.equal(disposed, false);
  });

  it('resolves true when the request settles without a newline', async () => {
    const s = new CompletionStream('k', 't');
    const waiting = s.waitFirstLine();
    s.addChunk({ id: 'c', text: 'x + 1' });
    s.finish(final('x + 1'));
    assert.equal(await waiting, true);
  });
});

describe('CompletionStream.summary', () => {
  it('tells whether ghost text showed while streaming', () => {
    const s = feed(['a = 1\n', 'b']);
    s.markShown();
    s.finish(final('a = 1\nb'));
    assert.match(s.summary(), /^caveat\/complete c1: 2 chunks, 7 chars, first shown after \d+ ms, while streaming, done after \d+ ms$/);
  });

  it('says when nothing was shown', () => {
    const s = feed([]);
    s.finish(final(''));
    assert.match(s.summary(), /0 chunks, 0 chars, not shown/);
  });
});

describe('streamKey', () => {
  it('differs by version and by position', () => {
    const keys = new Set([
      streamKey('file:///a.py', 1, 2, 3),
      streamKey('file:///a.py', 2, 2, 3),
      streamKey('file:///a.py', 1, 2, 4),
      streamKey('file:///b.py', 1, 2, 3),
    ]);
    assert.equal(keys.size, 4);
  });
});

describe('continuesGhostText', () => {
  const cases: [string, string, boolean][] = [
    ['return a + b', 'r', true],
    ['return a + b', 'return a', true],
    ['return a + b', 'x', false],
    ['return a + b', '', false],
    ['a\nb', 'a\n', false],
    ['', 'a', false],
  ];
  for (const [ghost, typed, want] of cases) {
    it(`${JSON.stringify(typed)} after ${JSON.stringify(ghost)} -> ${want}`, () => {
      assert.equal(continuesGhostText(ghost, typed), want);
    });
  }
});

describe('otherCandidates', () => {
  it('keeps the server order, drops the streamed one, empty texts and repeats', () => {
    const result: CaveatCompletion = {
      ...final('if n < 2:'),
      id: 'c2',
      candidates: [
        { id: 'c3', text: 'a, b = 0, 1', confidence: -0.2, tokens: [] },
        { id: 'c2', text: 'if n < 2:', confidence: -0.3, tokens: [] },
        { id: 'c4', text: '', confidence: -0.4, tokens: [] },
        { id: 'c5', text: 'a, b = 0, 1', confidence: -0.5, tokens: [] },
        { id: 'c6', text: 'return n', confidence: -0.9, tokens: [] },
      ],
    };
    assert.deepEqual(
      otherCandidates(result).map((c) => c.id),
      ['c3', 'c6'],
    );
  });

  it('is empty for a single completion', () => {
    assert.deepEqual(otherCandidates(final('x')), []);
  });
});

describe('didViewParams', () => {
  it('names the document and keeps at most four ranges', () => {
    const r = (line: number) => ({ start: { line, character: 0 }, end: { line: line + 9, character: 0 } });
    const params = didViewParams('file:///a.py', [r(0), r(20), r(40), r(60), r(80)]);
    assert.equal(params.textDocument.uri, 'file:///a.py');
    assert.deepEqual(params.ranges, [r(0), r(20), r(40), r(60)]);
  });
});
