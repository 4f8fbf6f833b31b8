/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// In development Vite serves the SPA and forwards the API, images and Socket.IO to Flask.
const backend = process.env.ATELIER_BACKEND ?? "http://127.0.0.1:5000";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  // relative asset URLs: the same build works at / and under ATELIER_BASE_PATH
  base: "./",
  server: {
    port: 5173,
    proxy: {
      "/api": backend,
      "/images": backend,
      "/socket.io": { target: backend, ws: true },
    },
  },
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, target: "es2022" },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
  },
});
