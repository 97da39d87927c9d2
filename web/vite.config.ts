import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run build` writes dist/, which `tally serve` embeds. `npx vite` serves the app with
// hot reload and sends the API to a Tally on 127.0.0.1:8080.
const tally = "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: { "/api": tally, "/sso": tally, "/track": tally, "/engage": tally, "/import": tally },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
