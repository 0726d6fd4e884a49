import ArgumentParser
import Foundation
import Relevance

/// The release, reported by `clrp --version` and `clrp serve`'s `version` operation; the Python
/// package (python/clrp/__init__.py) carries the same number.
let clrpVersion = "0.1.0"

@main
struct CLRP: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "clrp",
    abstract: "Explain the decisions of convolutional networks (LRP and contrastive LRP) from ONNX models.",
    discussion: """
      Start with `clrp explain MODEL.onnx IMAGE.png` (lrp, clrp1 and clrp2 maps of the top two
      classes, written to ./explanations), `clrp inspect MODEL.onnx` to see how clrp reads a
      model and which rule each layer gets, and `clrp verify` to check that relevance adds up.
      """,
    version: clrpVersion,
    subcommands: [Explain.self, Eval.self, Classify.self, Inspect.self, Verify.self, Bench.self, Serve.self])

  static func main() {
    useFastBLASKernels()
    main(nil)
  }
}

/// Restarts the process with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to generic
/// kernels on a CPU with AVX2 or AVX-512 (see `BLASCore`); `CLRP_KEEP_BLAS_CORE=1` opts out.
func useFastBLASKernels() {
  let environment = ProcessInfo.processInfo.environment
  guard environment["CLRP_KEEP_BLAS_CORE"] == nil, let core = BLASCore.recommended(environment: environment) else { return }
  setenv("OPENBLAS_CORETYPE", core, 1)
  execv("/proc/self/exe", CommandLine.unsafeArgv)
  // execv returns only on failure: carry on with the kernels already loaded.
}

/// Runs a command body and turns clrp's own errors into one clear line on stderr and exit 1.
func reportingErrors(_ body: () throws -> Void) throws {
  do { try body() } catch let error as ModelError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    throw ExitCode(1)
  }
}

/// Prints a JSON object (sorted keys, indented) to stdout.
func printJSON(_ object: Any) throws {
  let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}

/// Loads a model, printing its notes (e.g. a newer opset) to stderr.
func loadModel(_ path: String) throws -> Model {
  let model = try Model(path: path)
  printNotes(model.imported.notes)
  return model
}

nonisolated(unsafe) private var printedNotes: Set<String> = []

/// Prints each note (stripped softmax, new opset, ...) to stderr once.
func printNotes(_ notes: [String]) {
  for note in notes where printedNotes.insert(note).inserted {
    FileHandle.standardError.write(Data("note: \(note)\n".utf8))
  }
}
