// Reads Atelier's own `atelier` PNG text chunk in the browser: the fallback when the
// server has no /api/metadata/parse.
import type { Settings } from "../compose/draft";

export function readPngTextChunks(buffer: ArrayBuffer): Record<string, string> {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const out: Record<string, string> = {};
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) return out;
  let pos = 8;
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = latin1.decode(bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === "tEXt" || type === "iTXt") {
      const nul = data.indexOf(0);
      const key = latin1.decode(data.subarray(0, nul));
      if (type === "tEXt") out[key] = latin1.decode(data.subarray(nul + 1));
      else {
        // keyword \0 compression-flag compression-method language \0 translated \0 text
        let p = nul + 3;
        p = data.indexOf(0, p) + 1;
        p = data.indexOf(0, p) + 1;
        if (data[nul + 1] === 0) out[key] = utf8.decode(data.subarray(p));
      }
    }
    if (type === "IDAT" || type === "IEND") break;
    pos += 12 + length;
  }
  return out;
}

export function settingsFromAtelierChunk(text: string): Settings | null {
  try {
    const meta = JSON.parse(text);
    const r = meta.request ?? {};
    return {
      prompt: r.prompt,
      negative_prompt: r.negative_prompt,
      provider: meta.provider ?? r.provider,
      model: meta.model ?? r.model,
      style: r.style,
      aspect_ratio: r.aspect_ratio,
      seed: meta.seed ?? r.seed,
      steps: r.steps,
      quality: r.quality,
    };
  } catch {
    return null;
  }
}
