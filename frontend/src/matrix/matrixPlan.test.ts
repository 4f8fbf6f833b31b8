import { describe, expect, it } from "vitest";
import type { JobSubmission, ProviderInfo } from "../api/types";
import { axisValues, cellCount, choices, estimate, matrixBody, newAxis } from "./matrixPlan";

const model = (id: string, price: number | null) =>
  ({ id, label: id, aspect_ratios: { "1:1": [64, 64] }, qualities: [], price_per_image: price }) as unknown as ProviderInfo["models"][number];
const PROVIDERS = [
  { id: "offline", label: "Offline", available: true, default_model: "free", models: [model("free", null)] },
  { id: "cloud", label: "Cloud", available: true, default_model: "paid", models: [model("paid", 0.04)] },
  { id: "off", label: "Off", available: false, default_model: "x", models: [model("x", 1)] },
] as unknown as ProviderInfo[];
const BASE: JobSubmission = { prompt: "a cat", provider: "offline", model: "free", n: 1 };

describe("the matrix builder's plan", () => {
  it("reads typed values and refuses what the server would", () => {
    expect(axisValues({ ...newAxis("seed"), text: "1, 2 3" }).values).toEqual([1, 2, 3]);
    expect(axisValues({ ...newAxis("seed"), text: "1, two" }).error).toMatch(/two/);
    expect(axisValues({ ...newAxis("steps"), text: "4, 4" }).error).toMatch(/twice/);
    expect(axisValues({ ...newAxis("prompt"), text: "a cat\n\n a dog " }).values).toEqual(["a cat", "a dog"]);
  });

  it("offers only available providers and counts the cells", () => {
    expect(choices("provider", PROVIDERS, []).map((c) => c.value)).toEqual(["offline", "cloud"]);
    const axes = [
      { ...newAxis("provider"), chosen: ["offline", "cloud"] },
      { ...newAxis("seed"), text: "1,2,3" },
    ];
    expect(cellCount(axes)).toBe(6);
    expect(estimate(axes, BASE, PROVIDERS)).toEqual({ cells: 6, costUsd: 0.12, unpriced: 3, skipped: 0 });
  });

  it("counts a model of another provider as skipped, and sends replace on the prompt axis only", () => {
    const axes = [
      { ...newAxis("provider"), chosen: ["offline", "cloud"] },
      { ...newAxis("model"), chosen: ["free"] },
    ];
    expect(estimate(axes, BASE, PROVIDERS).skipped).toBe(1);
    const body = matrixBody(BASE, [{ ...newAxis("prompt"), text: "cat\ndog", replace: " cat " }]);
    expect(body.axes).toEqual([{ field: "prompt", values: ["cat", "dog"], replace: "cat" }]);
  });
});
