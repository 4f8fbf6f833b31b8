import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { EMPTY_DRAFT, toSubmission } from "../compose/draft";
import { fullModel } from "../test/fixtures";
import { promptsApi } from "./api";
import { PromptEnhancer } from "./PromptEnhancer";

function show(prompt: string, onAccept = vi.fn()) {
  const client = new QueryClient({ defaultOptions: { mutations: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <PromptEnhancer prompt={prompt} style="watercolor" onAccept={onAccept} />
    </QueryClientProvider>,
  );
  return onAccept;
}

const answer = {
  original: "a lighthouse",
  enhanced: "a lighthouse on a cliff at golden hour",
  enhancer: { kind: "openai-compatible", model: "llama3.2" },
};

afterEach(() => vi.restoreAllMocks());

describe("prompt enhancement", () => {
  it("shows before and after and changes nothing until Accept", async () => {
    const enhance = vi.spyOn(promptsApi, "enhance").mockResolvedValue(answer);
    const onAccept = show("a lighthouse");
    await userEvent.click(screen.getByRole("button", { name: "Enhance" }));
    expect(enhance).toHaveBeenCalledWith("a lighthouse", "watercolor");
    expect(await screen.findByLabelText("Before")).toHaveTextContent("a lighthouse");
    expect(screen.getByLabelText("After")).toHaveTextContent("on a cliff at golden hour");
    expect(onAccept).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Accept" }));
    expect(onAccept).toHaveBeenCalledWith(answer.enhanced, "a lighthouse");
    expect(screen.queryByRole("region", { name: "Prompt enhancement" })).toBeNull();
  });

  it("Keep mine closes the panel without a change", async () => {
    vi.spyOn(promptsApi, "enhance").mockResolvedValue(answer);
    const onAccept = show("a lighthouse");
    await userEvent.click(screen.getByRole("button", { name: "Enhance" }));
    await userEvent.click(await screen.findByRole("button", { name: "Keep mine" }));
    expect(onAccept).not.toHaveBeenCalled();
    expect(screen.queryByLabelText("After")).toBeNull();
  });

  it("says what the server said when enhancement is off or fails", async () => {
    vi.spyOn(promptsApi, "enhance").mockRejectedValue(new ApiError(503, "enhancer_off", "prompt enhancement is off: set ATELIER_ENHANCER"));
    show("a lighthouse");
    await userEvent.click(screen.getByRole("button", { name: "Enhance" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("set ATELIER_ENHANCER");
  });

  it("after Accept says the original is kept, and Undo puts it back", async () => {
    const client = new QueryClient();
    const onUndo = vi.fn();
    render(
      <QueryClientProvider client={client}>
        <PromptEnhancer prompt={answer.enhanced} style={null} onAccept={vi.fn()} original="a lighthouse" onUndo={onUndo} />
      </QueryClientProvider>,
    );
    expect(screen.getByText(/Original kept with the images/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Undo" }));
    expect(onUndo).toHaveBeenCalled();
  });

  it("cannot enhance a blank prompt", () => {
    show("   ");
    expect(screen.getByRole("button", { name: "Enhance" })).toBeDisabled();
  });

  it("a job from an accepted enhancement sends the original prompt", () => {
    const draft = { ...EMPTY_DRAFT, prompt: answer.enhanced, originalPrompt: "a lighthouse", provider: "p", model: fullModel.id };
    expect(toSubmission(draft, fullModel, "s").original_prompt).toBe("a lighthouse");
    expect(toSubmission({ ...draft, originalPrompt: null }, fullModel, "s").original_prompt).toBeUndefined();
  });
});
