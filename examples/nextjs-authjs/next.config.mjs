import { resolve } from "node:path";

// The client package comes from this repository (file:../../clients/typescript, a symlink): let Turbopack and the
// output tracing see the repository root, where it lives.
const repositoryRoot = resolve(import.meta.dirname, "../..");

/** @type {import('next').NextConfig} */
const nextConfig = {
  turbopack: { root: repositoryRoot },
  outputFileTracingRoot: repositoryRoot,
  poweredByHeader: false,
};

export default nextConfig;
