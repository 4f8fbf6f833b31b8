/** How the lightbox names the tool that wrote an image's parameters (`parameters.source`).
 * A name not listed here is shown as the server sent it. */
const SOURCE_LABELS: Record<string, string> = {
  atelier: "Atelier",
  a1111: "AUTOMATIC1111",
  forge: "Forge",
  "forge-neo": "Forge Neo",
  "forge-classic": "Forge Classic",
  reforge: "reForge",
  sdnext: "SD.Next",
  civitai: "Civitai",
  comfyui: "ComfyUI",
  fooocus: "Fooocus",
  "ruined-fooocus": "RuinedFooocus",
  invokeai: "InvokeAI",
  "invokeai-legacy": "InvokeAI 2",
  swarmui: "SwarmUI",
  novelai: "NovelAI",
  "stability-matrix": "Stability Matrix",
  tensorart: "TensorArt",
  "hf-space": "Hugging Face Space",
};

export function sourceLabel(source: string): string {
  return SOURCE_LABELS[source] ?? source;
}
