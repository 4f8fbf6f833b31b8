// Generated from backend/services/tools/registry.py by
// `python -m backend.services.tools.registry > frontend/src/tools/toolKinds.ts`: do not edit.
// tests/test_tool_registry.py fails when this file and the table differ.
export const TOOL_KINDS = [
  { kind: "edit", label: "Edit" },
  { kind: "upscale", label: "Upscale" },
  { kind: "social", label: "Social" },
] as const;

export type ToolKind = (typeof TOOL_KINDS)[number]["kind"];
