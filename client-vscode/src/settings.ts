/**
 * The server's settings tree (docs/PROTOCOL.md, `caveat/server/settings.py`) as seen from the
 * client: which `caveat.*` keys belong to the server and how to nest them. Pure module.
 */

/** Dotted keys under `caveat.` that the server reads; everything else is client-only. */
export const SERVER_SETTING_KEYS = [
  'model.path',
  'model.threads',
  'model.contextLength',
  'model.gpuLayers',
  'model.server',
  'model.serverApi',
  'model.apiKeyEnv',
  'model.allowRemote',
  'completion.maxTokens',
  'completion.healing',
  'completion.decoding',
  'completion.candidates',
  'completion.temperature',
  'completion.typicalP',
  'completion.debounceMs',
  'completion.typedAheadCache',
  'diagnostics.enabled',
  'diagnostics.minLevel',
  'diagnostics.tokenConfidence',
  'context.enabled',
  'context.maxTokens',
] as const;

/** Keys under `caveat.` that only the extension reads. */
export const CLIENT_SETTING_KEYS = [
  'enable',
  'interpreter',
  'decorations.enabled',
  'trace.server',
  'disabledLanguages',
] as const;

export type SettingsTree = Record<string, Record<string, unknown>>;

/**
 * Nest the server's keys as `{group: {key: value}}`, reading each with `get`; keys whose value is
 * undefined are left out so that the server keeps its own default.
 */
export function serverSettingsTree(get: (key: string) => unknown): SettingsTree {
  const tree: SettingsTree = {};
  for (const dotted of SERVER_SETTING_KEYS) {
    const value = get(dotted);
    if (value === undefined) {
      continue;
    }
    const [group, key] = dotted.split('.') as [string, string];
    tree[group] ??= {};
    tree[group][key] = value;
  }
  return tree;
}
