import { describe, expect, it } from "vitest";
import { START, step, type Walk } from "./historyWalk";

const history = ["newest", "middle", "oldest"];

function press(walk: Walk, key: string, current: string) {
  return step(walk, key, current, history);
}

describe("the prompt history walk", () => {
  it("goes back with arrow-up from an empty box and forward with arrow-down to empty again", () => {
    let walk = START;
    let box = "";
    const seen: string[] = [];
    for (const key of ["ArrowUp", "ArrowUp", "ArrowUp", "ArrowUp", "ArrowDown", "ArrowDown", "ArrowDown"]) {
      const next = press(walk, key, box);
      if (next) ({ walk, prompt: box } = next);
      seen.push(box);
    }
    expect(seen).toEqual(["newest", "middle", "oldest", "oldest", "middle", "newest", ""]);
  });

  it("leaves a prompt being written alone, and other keys", () => {
    expect(press(START, "ArrowUp", "my words")).toBeNull();
    const first = press(START, "ArrowUp", "")!;
    expect(press(first.walk, "ArrowUp", first.prompt + " edited")).toBeNull();
    expect(press(START, "Enter", "")).toBeNull();
    expect(press(START, "ArrowDown", "")).toBeNull();
    expect(step(START, "ArrowUp", "", [])).toBeNull();
  });
});
