import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Composer } from "./Composer";
import { EMPTY_DRAFT, toSubmission, validate, withDefaults, type Draft } from "./draft";
import { bareModel, fullModel, providers, styles } from "../test/fixtures";
import type { ServerWarning } from "../api/types";

function Harness(props: {
  initial?: Partial<Draft>;
  onGenerate?: (d: Draft) => void;
  warnings?: ServerWarning[];
  serverError?: { message: string; field?: string } | null;
}) {
  const [draft, setDraft] = useState<Draft>(withDefaults({ ...EMPTY_DRAFT, ...props.initial }, providers));
  return (
    <Composer
      draft={draft}
      onChange={setDraft}
      providers={providers}
      styles={styles}
      onGenerate={() => props.onGenerate?.(draft)}
      warnings={props.warnings ?? []}
      serverError={props.serverError ?? null}
      lastSeed={42}
    />
  );
}

describe("composer validation", () => {
  it("does not send an empty prompt and says why", async () => {
    const onGenerate = vi.fn();
    render(<Harness onGenerate={onGenerate} />);
    await userEvent.click(screen.getByRole("button", { name: "Generate" }));
    expect(onGenerate).not.toHaveBeenCalled();
    expect(screen.getByRole("alert")).toHaveTextContent("Write a prompt first.");
  });

  it("refuses a number of images outside what the model allows", async () => {
    const onGenerate = vi.fn();
    render(<Harness onGenerate={onGenerate} initial={{ prompt: "a lake" }} />);
    const n = screen.getByLabelText("Images");
    await userEvent.clear(n);
    await userEvent.type(n, "11");
    await userEvent.click(screen.getByRole("button", { name: "Generate" }));
    expect(onGenerate).not.toHaveBeenCalled();
    expect(screen.getByText("Choose between 1 and 4 images.")).toBeInTheDocument();
  });

  it("generates on Ctrl+Enter with a valid draft", async () => {
    const onGenerate = vi.fn();
    render(<Harness onGenerate={onGenerate} />);
    await userEvent.type(screen.getByLabelText("Prompt"), "a lighthouse{Control>}{Enter}{/Control}");
    expect(onGenerate).toHaveBeenCalledTimes(1);
    expect(onGenerate.mock.calls[0]![0].prompt).toBe("a lighthouse");
  });

  it("rejects a seed that is not a whole number in range", () => {
    const d = withDefaults({ ...EMPTY_DRAFT, prompt: "x", seed: "-3", seedLocked: true }, providers);
    expect(validate(d, fullModel).seed).toMatch(/whole number/);
    expect(validate({ ...d, seed: "4294967296" }, fullModel).seed).toBeDefined();
    expect(validate({ ...d, seed: "4294967295" }, fullModel).seed).toBeUndefined();
  });

  it("keeps the prompt and shows the server's refusal beside its field", () => {
    render(<Harness initial={{ prompt: "my careful prompt" }} serverError={{ message: "prompt is too long", field: "prompt" }} />);
    expect(screen.getByLabelText("Prompt")).toHaveValue("my careful prompt");
    expect(screen.getByRole("alert")).toHaveTextContent("prompt is too long");
  });
});

describe("capability-driven controls", () => {
  it("offers seed, negative prompt, steps and the cost for a model that has them", () => {
    render(<Harness initial={{ prompt: "x" }} />);
    expect(screen.getByLabelText("Seed")).toBeInTheDocument();
    expect(screen.getByLabelText("Negative prompt")).toBeInTheDocument();
    expect(screen.getByLabelText(/Steps/)).toHaveValue(20);
    expect(screen.queryByLabelText("Quality")).not.toBeInTheDocument();
    expect(screen.getByRole("radio", { name: /16:9/ })).toBeInTheDocument();
    expect(screen.getByLabelText("Estimated cost")).toHaveTextContent("$0.04");
  });

  it("hides what a model cannot do and shows its qualities", async () => {
    render(<Harness initial={{ prompt: "x" }} />);
    await userEvent.selectOptions(screen.getByLabelText("Model"), "bare");
    expect(screen.queryByLabelText("Seed")).not.toBeInTheDocument();
    expect(screen.queryByLabelText("Negative prompt")).not.toBeInTheDocument();
    expect(screen.queryByLabelText(/Steps/)).not.toBeInTheDocument();
    expect(screen.getByLabelText("Quality")).toHaveValue("medium");
    expect(screen.queryByRole("radio", { name: /16:9/ })).not.toBeInTheDocument();
    expect(screen.getByLabelText("Estimated cost")).toHaveTextContent("No price published");
  });

  it("updates the cost with the number of images", async () => {
    render(<Harness initial={{ prompt: "x" }} />);
    const n = screen.getByLabelText("Images");
    await userEvent.clear(n);
    await userEvent.type(n, "3");
    expect(screen.getByLabelText("Estimated cost")).toHaveTextContent("$0.12");
  });

  it("does not offer an unavailable provider", () => {
    render(<Harness />);
    const option = screen.getByRole("option", { name: /Keyless/ }) as HTMLOptionElement;
    expect(option.disabled).toBe(true);
  });

  it("shows a server warning beside the control it concerns", () => {
    render(<Harness initial={{ prompt: "x" }} warnings={[{ field: "seed", message: "takes no seed", requested: 1, used: null }]} />);
    const seedBox = screen.getByLabelText("Seed").closest("div")!.parentElement!;
    expect(seedBox).toHaveTextContent("takes no seed");
  });

  it("sends only what the model supports", () => {
    const draft: Draft = { ...EMPTY_DRAFT, prompt: "x", negativePrompt: "blur", provider: "alpha", model: "bare", aspectRatio: "1:1", seed: "5", seedLocked: true, steps: 30, quality: "high" };
    const body = toSubmission(draft, bareModel, "s1");
    expect(body).toEqual({ prompt: "x", provider: "alpha", model: "bare", style: "none", aspect_ratio: "1:1", n: 1, session: "s1", quality: "high" });
    const full = toSubmission({ ...draft, model: "full", quality: null }, fullModel, "s1");
    expect(full).toMatchObject({ negative_prompt: "blur", seed: 5, steps: 30 });
    expect(full.quality).toBeUndefined();
  });
});
