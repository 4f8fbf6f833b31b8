import { describe, expect, it } from "vitest";
import { dropPosition, moved } from "./queueOrder";

describe("queue order", () => {
  it("moves an id to a 1-based place, clamped", () => {
    expect(moved(["a", "b", "c"], "c", 1)).toEqual(["c", "a", "b"]);
    expect(moved(["a", "b", "c"], "a", 3)).toEqual(["b", "c", "a"]);
    expect(moved(["a", "b", "c"], "a", 2)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b", "c"], "b", 99)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], "b", 0)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b"], "x", 1)).toEqual(["a", "b"]);
  });

  it("a drop takes the place of the item dropped on", () => {
    const ids = ["a", "b", "c", "d"];
    expect(dropPosition(ids, "d", "b")).toBe(2);
    expect(dropPosition(ids, "a", "c")).toBe(3);
    expect(moved(ids, "a", dropPosition(ids, "a", "c")!)).toEqual(["b", "c", "a", "d"]);
    expect(dropPosition(ids, "a", "a")).toBeNull();
    expect(dropPosition(ids, "x", "a")).toBeNull();
  });
});
