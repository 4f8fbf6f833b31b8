import "@testing-library/jest-dom/vitest";
import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";

afterEach(() => cleanup());
if (!URL.createObjectURL) (URL as any).createObjectURL = () => "blob:fake";
if (!URL.revokeObjectURL) (URL as any).revokeObjectURL = () => {};
