/** What the status bar item says for each `caveat/status` (and client-side) state. Pure module. */
import type { StatusParams } from './protocol';

export interface StatusView {
  text: string;
  tooltip: string;
  error: boolean;
}

/** The status bar text before the server has said anything. */
export function startingView(): StatusView {
  return { text: '$(sync~spin) caveat: starting', tooltip: 'Starting the caveat server', error: false };
}

/** The status bar text when the extension is switched off. */
export function disabledView(): StatusView {
  return { text: '$(circle-slash) caveat: off', tooltip: 'caveat is disabled (caveat.enable)', error: false };
}

/** The status bar text for a client-side failure (server did not start, caveat missing). */
export function failedView(message: string): StatusView {
  return { text: '$(error) caveat', tooltip: message, error: true };
}

/** Render the server's `caveat/status` notification. */
export function statusView(status: StatusParams): StatusView {
  const model = status.model || 'model';
  switch (status.state) {
    case 'loading':
      return {
        text: `$(sync~spin) caveat: loading ${model}`,
        tooltip: status.message ?? `Loading ${model}`,
        error: false,
      };
    case 'error':
      return {
        text: `$(error) caveat: ${model}`,
        tooltip: status.message ?? 'The model failed to load',
        error: true,
      };
    case 'ready': {
      const parts = [`$(check) ${model}`];
      if (status.device !== undefined) {
        parts.push(status.device);
      }
      if (status.lastLatencyMs !== undefined) {
        parts.push(`${Math.round(status.lastLatencyMs)} ms`);
      }
      if (status.tokensPerSecond !== undefined && status.tokensPerSecond > 0) {
        parts.push(`${status.tokensPerSecond.toFixed(0)} tok/s`);
      }
      const detail = status.message ? `\n${status.message}` : '';
      return {
        text: parts.join(' · '),
        tooltip: `caveat: ${model} ready (last completion latency and speed)${detail}\nClick for logs`,
        error: false,
      };
    }
  }
}
