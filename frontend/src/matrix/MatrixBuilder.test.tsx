import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ApiError } from "../api/client";
import { providers, styles } from "../test/fixtures";
import { MatrixBuilder } from "./MatrixBuilder";

const BASE = { prompt: "a cat", provider: "alpha", model: "full", n: 1, session: "s1" };

describe("the matrix builder", () => {
  it("shows the cell count and estimate, and sends the axes", async () => {
    const onStart = vi.fn().mockResolvedValue(undefined);
    render(<MatrixBuilder base={BASE} providers={providers} styles={styles} onStart={onStart} />);
    await userEvent.click(screen.getByRole("button", { name: "Add an axis" }));
    // only available providers are offered
    expect(screen.queryByRole("button", { name: "Keyless" })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Alpha" }));
    await userEvent.click(screen.getByRole("button", { name: "Add an axis" }));
    await userEvent.selectOptions(screen.getByLabelText("Axis 2 field"), "seed");
    await userEvent.type(screen.getByLabelText("Axis 2 values"), "1, 2, 3");
    expect(screen.getByTestId("matrix-summary")).toHaveTextContent("3 cells · about $0.12");
    await userEvent.click(screen.getByRole("button", { name: "Run matrix" }));
    expect(onStart).toHaveBeenCalledWith({
      base: BASE,
      axes: [
        { field: "provider", values: ["alpha"] },
        { field: "seed", values: [1, 2, 3] },
      ],
    });
  });

  it("does not send values the server would refuse, and shows the server's refusal", async () => {
    const onStart = vi.fn().mockRejectedValue(new ApiError(402, "budget_exceeded", "over the budget", "budget"));
    render(<MatrixBuilder base={BASE} providers={providers} styles={styles} onStart={onStart} />);
    await userEvent.click(screen.getByRole("button", { name: "Add an axis" }));
    await userEvent.selectOptions(screen.getByLabelText("Axis 1 field"), "seed");
    await userEvent.type(screen.getByLabelText("Axis 1 values"), "1, x");
    expect(screen.getByText("“x” is not a whole number")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Run matrix" })).toBeDisabled();
    await userEvent.clear(screen.getByLabelText("Axis 1 values"));
    await userEvent.type(screen.getByLabelText("Axis 1 values"), "5");
    await userEvent.click(screen.getByRole("button", { name: "Run matrix" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("over the budget (budget)");
  });

  it("offers at most three axes, each field once", async () => {
    render(<MatrixBuilder base={BASE} providers={providers} styles={styles} onStart={vi.fn()} />);
    for (let i = 0; i < 3; i++) await userEvent.click(screen.getByRole("button", { name: "Add an axis" }));
    expect(screen.queryByRole("button", { name: "Add an axis" })).toBeNull();
    const fields = ["Axis 1 field", "Axis 2 field", "Axis 3 field"].map((l) => (screen.getByLabelText(l) as HTMLSelectElement).value);
    expect(new Set(fields).size).toBe(3);
  });
});
