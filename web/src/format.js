// Small formatting helpers shared by the pages.

export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** An error's message (an ApiError's is the server's first message). */
export function errorText(err) {
  if (!err) return '';
  return err.message || String(err);
}

/** API field names as the form labels them, for messages in plain words. */
const FIELD_LABELS = {
  cfg_scale: 'CFG scale',
  ai_version_code: 'AI version',
};

/** A server message in the form's words: "The cfg_scale must be …" → "The CFG scale must be …". */
export function plainMessage(message) {
  return String(message).replace(/\b(cfg_scale|ai_version_code)\b/g, (name) => FIELD_LABELS[name] ?? name);
}

export function fieldError(err, name) {
  const list = err && err.fields ? err.fields[name] : undefined;
  return Array.isArray(list) && list.length > 0 ? plainMessage(list[0]) : '';
}

/** The file name of an image URL, for download links. */
export function fileName(url) {
  return String(url).split('?')[0].split('/').pop() || 'image.png';
}
