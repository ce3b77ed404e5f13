/**
 * Types for hls.js's light build (the same API without subtitles, alternate audio tracks or DRM,
 * which clipyard's streams never use): the package ships types only for the full build.
 */
declare module 'hls.js/light' {
  export { default } from 'hls.js';
}
