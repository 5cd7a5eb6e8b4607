// The guest's camera and microphone, with messages that say what to do when they fail,
// and a level meter for any audio stream (the microphone, the host's voice).

/** The microphone cannot be used; `message` tells the guest what to do. */
export class MediaProblem extends Error {}

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

function microphoneProblem(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new MediaProblem(
        "Microphone access is blocked. Allow the microphone for this site (the icon at the " +
          "left of the address bar, or your browser's site settings), then press Try again.",
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return new MediaProblem("No microphone was found. Connect one, then press Try again.");
    case "NotReadableError":
    case "AbortError":
      return new MediaProblem(
        "Your microphone is in use by another app or could not be started. " +
          "Close the other app, then press Try again.",
      );
    default:
      return new MediaProblem(
        `The microphone could not be opened (${error?.name ?? error}). Press Try again.`,
      );
  }
}

/**
 * Open the microphone and, if possible, the camera.
 * Resolves with {stream, notice}; `notice` says when the camera is missing (audio only).
 */
export async function openCameraAndMicrophone() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MediaProblem(
      "This browser only lets secure pages use the microphone: open the studio over https " +
        "(or on localhost).",
    );
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: AUDIO, video: VIDEO }) };
  } catch {
    // The camera may be what failed: try the microphone alone before giving up.
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
    return { stream, notice: "Your camera is not available, so you will join with audio only." };
  } catch (error) {
    throw microphoneProblem(error);
  }
}

let sharedContext = null;

/** The page's one AudioContext (browsers limit how many a page may open). */
export function audioContext() {
  sharedContext ??= new AudioContext();
  if (sharedContext.state === "suspended") sharedContext.resume().catch(() => {});
  return sharedContext;
}

/** Loudness (RMS, 0 to 1) of an audio stream, read whenever asked. */
export class LevelMeter {
  constructor(stream) {
    const context = audioContext();
    this.source = context.createMediaStreamSource(stream);
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
  }

  level() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const sample of this.samples) sum += sample * sample;
    return Math.sqrt(sum / this.samples.length);
  }

  close() {
    this.source.disconnect();
  }
}
