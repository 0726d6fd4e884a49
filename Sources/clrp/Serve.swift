import ArgumentParser
import Foundation
import Relevance

#if canImport(Glibc)
import Glibc
#endif

struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Answer classify, explain, verify and heatmap requests over stdin and stdout, keeping the model loaded.",
    discussion: """
      The request/response mode behind the Python package: one process keeps the model, its
      canonical graphs and the compiled plans, so many images pay for loading and compiling
      once. Each message is the byte length of a JSON header in decimal and a newline, the
      header, then the arrays it lists as complete .npy files; every request gets one response
      in the same framing, `"ok": false` and clrp's message when it fails. The server keeps
      serving after a bad request and exits when its input ends: status 0 between messages,
      1 inside one. Only responses go to stdout; notes and errors go to stderr. Protocol and
      operations: Docs/SERVE.md. Without MODEL only `version` and `heatmap` are served.

      Example:
        clrp serve Tests/Fixtures/models/shapes-vgg.onnx --preprocess imagenet
      """)

  /// The protocol's version, answered by the `version` operation.
  static let protocolVersion = 1

  @Argument(help: "The ONNX model (optional: without it only `version` and `heatmap` are served).") var model: String?
  @Option(help: "Rule preset or YAML file for every method (default: each method's own); a request's 'rules' overrides it.")
  var rules: String?
  @Option(help: "How images become inputs and the z^B bounds: imagenet, unit, or a YAML file (Docs/RULES.md).")
  var preprocess = "imagenet"
  @Option(help: "Class names, one per line (default: the model's metadata `labels`, if any).") var labels: String?
  @Option(help: "Memory budget, e.g. 8G or 512M (default: 75 % of the machine's memory); larger models, inputs or batches are refused.")
  var maxMemory: String?

  func run() throws {
    var server: Server!
    try reportingErrors {
      try applyMemoryBudget(maxMemory)
      let preprocessing = try Preprocessing.load(nameOrPath: preprocess)
      // A rule set that cannot be read fails at start, not at the first request.
      if let rules { _ = try RuleSet.load(nameOrPath: rules) }
      let model = try self.model.map(loadModel)
      let names = try self.labels.map(readLabels) ?? model?.labels
      server = Server(model: model, rules: rules, preprocessName: preprocess, preprocessing: preprocessing, labels: names)
    }
    // A client that goes away makes writes fail with EPIPE instead of killing the process.
    signal(SIGPIPE, SIG_IGN)
    FileHandle.standardError.write(Data("clrp serve: ready\(model.map { " (\($0))" } ?? "")\n".utf8))
    let reader = FrameReader(descriptor: STDIN_FILENO)
    let writer = FrameWriter(descriptor: STDOUT_FILENO)
    while true {
      let response: ServeMessage
      do {
        guard let request = try reader.next() else { return }
        response = server.answer(request)
      } catch FrameError.disconnected(let received) {
        FileHandle.standardError.write(Data("error: the input ended inside a request (after \(received) of its bytes); no response sent\n".utf8))
        throw ExitCode(1)
      } catch FrameError.malformed(let message, let id) {
        response = Server.failure(nil, id: id, message)
      }
      guard try writer.write(response) else {
        FileHandle.standardError.write(Data("error: stdout closed; the client is gone\n".utf8))
        throw ExitCode(1)
      }
    }
  }
}

/// What `clrp serve` keeps between requests, and the operations (Docs/SERVE.md).
final class Server {
  let model: Model?
  let rules: String?
  let preprocessName: String
  let preprocessing: Preprocessing
  let labels: [String]?
  let classifier: Classifier?
  /// One explainer per rule set asked for (nil: each method's default), sharing the model.
  private var explainers: [String: Explainer] = [:]

  init(model: Model?, rules: String?, preprocessName: String, preprocessing: Preprocessing, labels: [String]?) {
    self.model = model
    self.rules = rules
    self.preprocessName = preprocessName
    self.preprocessing = preprocessing
    self.labels = labels
    self.classifier = model.map(Classifier.init)
  }

  /// The response to one request: never throws; failures become `"ok": false` responses.
  func answer(_ request: ServeMessage) -> ServeMessage {
    let op = request.header["op"] as? String
    let id = request.header["id"]
    do {
      var response: ServeMessage
      switch op {
      case "version": response = try version()
      case "classify": response = try classify(Fields(request.header), request)
      case "explain": response = try explain(Fields(request.header), request)
      case "verify": response = try verify(Fields(request.header), request)
      case "heatmap": response = try heatmap(Fields(request.header), request)
      case nil: throw ModelError("the request has no 'op' (version, classify, explain, verify, heatmap)")
      default: throw ModelError("unknown op '\(op!)' (version, classify, explain, verify, heatmap)")
      }
      response.header["ok"] = true
      response.header["op"] = op
      if let id { response.header["id"] = id }
      return response
    } catch let error as ModelError {
      return Self.failure(op, id: id, error.description)
    } catch let error as FieldError {
      return Self.failure(op, id: id, error.message)
    } catch {
      // Argument checks reuse the subcommands' parsers (`Explain.parse`, `Verify.parse`).
      return Self.failure(op, id: id, Explain.message(for: error))
    }
  }

  static func failure(_ op: String?, id: Any?, _ message: String) -> ServeMessage {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    var header: [String: Any] = ["ok": false, "error": message]
    if let op { header["op"] = op }
    if let id { header["id"] = id }
    return ServeMessage(header)
  }

  // MARK: operations

  func version() throws -> ServeMessage {
    var header: [String: Any] = ["version": clrpVersion, "protocol": Serve.protocolVersion, "preprocess": preprocessName]
    if let model {
      header["model"] = model.path
      header["input_shape"] = try model.inputShape(batch: 1)
      if let labels { header["labels"] = labels }
    }
    if let rules { header["rules"] = rules }
    return ServeMessage(header)
  }

  /// Logits of every image, [N, classes], and the top `top` classes of each.
  func classify(_ fields: Fields, _ request: ServeMessage) throws -> ServeMessage {
    let (model, classifier) = try loaded()
    let top = try fields.int("top") ?? 5
    guard top > 0 else { throw ModelError("'top' must be positive, got \(top)") }
    let images = try inputs(request, fields, model: model)
    let logits = try classifier.logits(images.map { Tensor(shape: Array($0.shape.dropFirst()), data: $0.data) }).logits
    let classes = logits[0].count
    let ranked = logits.map { scores -> [[String: Any]] in
      let probabilities = softmax(scores.data)
      return scores.data.indices.sorted { scores.data[$0] > scores.data[$1] }.prefix(top).map { prediction($0, Double(scores.data[$0]), probabilities[$0]) }
    }
    let stacked = Tensor(shape: [logits.count, classes], data: logits.flatMap(\.data))
    return ServeMessage(["top": ranked], arrays: [("logits", NPY.encode(stacked))])
  }

  /// Maps of one method for the targets asked for, [N, targets] + the per-image input shape.
  func explain(_ fields: Fields, _ request: ServeMessage) throws -> ServeMessage {
    let (model, _) = try loaded()
    let methods = try ExplanationMethod.parseList(try fields.string("method") ?? "clrp2")
    guard methods.count == 1 else { throw ModelError("'method' names one method per request, not \(methods.count)") }
    // The command line's target options and their checks.
    var arguments = [model.path, "-"]
    for c in try fields.ints("classes") ?? [] { arguments += ["--class", String(c)] }
    if let top = try fields.int("top") { arguments += ["--top", String(top)] }
    for n in try fields.strings("neuron") ?? [] { arguments += ["--neuron", n] }
    if let neurons = try fields.string("neurons") { arguments += ["--neurons", neurons] }
    if let count = try fields.int("random_classes") { arguments += ["--random-classes", String(count)] }
    if let pool = try fields.int("from_top") { arguments += ["--from-top", String(pool)] }
    if let seed = try fields.int("seed") { arguments += ["--seed", String(seed)] }
    let selection = try Explain.parse(arguments).targetSelection()
    let dualName = try fields.string("dual") ?? "uniform", normalizeName = try fields.string("normalize") ?? "none"
    guard let dual = ContrastOptions.Dual(rawValue: dualName) else { throw ModelError("'dual' must be uniform or abs-logits, not '\(dualName)'") }
    guard let normalize = ContrastOptions.Normalize(rawValue: normalizeName) else { throw ModelError("'normalize' must be none or sum, not '\(normalizeName)'") }
    let explainer = try self.explainer(rules: fields.string("rules") ?? rules, model: model)
    explainer.options = ContrastOptions(dual: dual, normalize: normalize)

    let images = try inputs(request, fields, model: model)
    var data: [Float] = [], perImage: [[[String: Any]]] = [], tops: [[[String: Any]]] = []
    var targetCount: Int?
    for image in images {
      let result = try explainer.explain(image, methods: methods, targets: selection)
      if targetCount == nil { targetCount = result.maps.count }
      guard result.maps.count == targetCount else {
        throw ModelError(file: model.path, "the images of the batch gave \(targetCount!) and \(result.maps.count) maps; explain them one by one")
      }
      tops.append(result.top(min(5, result.logits.count)).map { prediction($0.index, Double(result.logits[$0.index]), $0.probability) })
      perImage.append(result.maps.map { map in
        var entry: [String: Any] = ["method": map.method.rawValue, "target": map.target.description, "score": map.score,
                                    "relevance_sum": map.relevance.data.reduce(0.0) { $0 + Double($1) },
                                    "signal_sum": map.signalSum, "input_sum": map.inputSum, "conservation": map.conservation ?? NSNull()]
        if case .classes(let classes) = map.target {
          entry["classes"] = classes
          if let labels, classes.allSatisfy(labels.indices.contains) { entry["label"] = classes.map { labels[$0] }.joined(separator: " + ") }
        }
        return entry
      })
      for map in result.maps { data += map.relevance.data }
    }
    let shape = [images.count, targetCount ?? 0] + Array(images[0].shape.dropFirst())
    return ServeMessage(["maps": perImage, "top": tops], arrays: [("maps", NPY.encode(Tensor(shape: shape, data: data)))])
  }

  /// `clrp verify --json`'s report for one image.
  func verify(_ fields: Fields, _ request: ServeMessage) throws -> ServeMessage {
    let (model, _) = try loaded()
    var arguments = [model.path, "--rules", try fields.string("rules") ?? rules ?? "paper", "--preprocess", preprocessName]
    if let c = try fields.int("class") { arguments += ["--class", String(c)] }
    if let tolerance = try fields.double("tolerance") { arguments += ["--tolerance", String(tolerance)] }
    let images = try inputs(request, fields, model: model)
    guard images.count == 1 else { throw ModelError("verify checks one image; the request has \(images.count)") }
    let report = try Verify.parse(arguments).report(for: model, input: images[0])
    let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report))
    return ServeMessage(["report": object])
  }

  /// The heatmap of one relevance map as an RGB array [H, W, 3] (uint8), drawn as `clrp explain`
  /// draws its PNGs.
  func heatmap(_ fields: Fields, _ request: ServeMessage) throws -> ServeMessage {
    guard let blob = request.array("relevance") else { throw ModelError("heatmap needs an array named 'relevance'") }
    let relevance = try NPY.decode(blob, name: "the array 'relevance'")
    let colormap = try fields.string("cmap").map(Colormap.named)
    var style: HeatmapStyle
    if let name = try fields.string("method") {
      let methods = try ExplanationMethod.parseList(name)
      guard methods.count == 1 else { throw ModelError("'method' names one method, not \(methods.count)") }
      style = HeatmapStyle.explaining(methods[0], colormap: colormap)
    } else {
      style = HeatmapStyle(colormap: colormap)
    }
    if let name = try fields.string("scale") {
      guard let scale = HeatmapStyle.Scale(rawValue: name) else { throw ModelError("'scale' must be auto, signed or positive, not '\(name)'") }
      style.scale = scale
    }
    let layoutName = try fields.string("layout") ?? preprocessing.layout?.rawValue ?? "NCHW"
    guard let layout = Preprocessing.Layout(rawValue: layoutName.uppercased()) else { throw ModelError("'layout' must be NCHW or NHWC, not '\(layoutName)'") }
    let image = try Heatmap(relevance, layout: layout, style: style).image
    return ServeMessage(["width": image.width, "height": image.height],
                        arrays: [("heatmap", NPY.encode(bytes: image.pixels, shape: [image.height, image.width, 3]))])
  }

  // MARK: helpers

  private func loaded() throws -> (Model, Classifier) {
    guard let model, let classifier else { throw ModelError("this server was started without a model: only version and heatmap are served") }
    return (model, classifier)
  }

  private func explainer(rules: String?, model: Model) throws -> Explainer {
    let key = rules ?? ""
    if let explainer = explainers[key] { return explainer }
    let explainer = Explainer(model: model, rules: rules, preprocessing: preprocessing)
    explainers[key] = explainer
    return explainer
  }

  /// The request's images, each batch 1 in the model's layout: an image file per path in
  /// `image` / `images` (preprocessed as `clrp explain` does), or the array `input`, one image
  /// (the per-image shape) or a batch (a leading batch axis).
  private func inputs(_ request: ServeMessage, _ fields: Fields, model: Model) throws -> [Tensor] {
    let shape = try model.inputShape(batch: 1)
    let paths = try fields.strings("image").map { $0 } ?? fields.strings("images")
    if let paths {
      guard request.array("input") == nil else { throw ModelError("give 'image' or the array 'input', not both") }
      guard !paths.isEmpty else { throw ModelError("'images' is empty") }
      return try paths.map { try loadInput($0, shape: shape, preprocessing: preprocessing).0 }
    }
    guard let blob = request.array("input") else { throw ModelError("the request needs an image path ('image') or an array named 'input'") }
    let name = "the array 'input'"
    let tensor = try checkRunnable(NPY.decode(blob, name: name), source: name)
    let per = Array(shape.dropFirst())
    if tensor.shape == per { return [tensor.reshaped(shape)] }
    guard tensor.rank == per.count + 1, Array(tensor.shape.dropFirst()) == per else {
      throw ModelError(file: model.path, "the input has shape \(tensor.shape); the model takes \(per) or a batch [N] + \(per)")
    }
    let count = per.elementCount
    return (0..<tensor.shape[0]).map { n in Tensor(shape: shape, data: Array(tensor.data[(n * count)..<((n + 1) * count)])) }
  }

  private func prediction(_ index: Int, _ logit: Double, _ probability: Double) -> [String: Any] {
    var entry: [String: Any] = ["class": index, "logit": logit, "probability": probability]
    if let labels, labels.indices.contains(index) { entry["label"] = labels[index] }
    return entry
  }

  private func softmax(_ z: [Float]) -> [Double] {
    let m = Double(z.max() ?? 0)
    let e = z.map { exp(Double($0) - m) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
  }
}

/// A request field of the wrong type.
struct FieldError: Error { let message: String }

/// Typed access to a request's JSON fields, with errors that name the field.
struct Fields {
  let header: [String: Any]
  init(_ header: [String: Any]) { self.header = header }

  func string(_ name: String) throws -> String? {
    guard let value = present(name) else { return nil }
    guard let s = value as? String else { throw FieldError(message: "'\(name)' must be a string") }
    return s
  }

  /// A string or a list of strings.
  func strings(_ name: String) throws -> [String]? {
    guard let value = present(name) else { return nil }
    if let s = value as? String { return [s] }
    guard let list = value as? [Any], let strings = list as? [String] else { throw FieldError(message: "'\(name)' must be a string or a list of strings") }
    return strings
  }

  func int(_ name: String) throws -> Int? {
    guard let value = present(name) else { return nil }
    guard let i = Self.integer(value) else { throw FieldError(message: "'\(name)' must be an integer") }
    return i
  }

  /// An integer or a list of integers.
  func ints(_ name: String) throws -> [Int]? {
    guard let value = present(name) else { return nil }
    if let i = Self.integer(value) { return [i] }
    guard let list = value as? [Any] else { throw FieldError(message: "'\(name)' must be an integer or a list of integers") }
    return try list.map { guard let i = Self.integer($0) else { throw FieldError(message: "'\(name)' must be an integer or a list of integers") }; return i }
  }

  func double(_ name: String) throws -> Double? {
    guard let value = present(name) else { return nil }
    guard let n = value as? NSNumber, !Self.isBool(n) else { throw FieldError(message: "'\(name)' must be a number") }
    return n.doubleValue
  }

  private func present(_ name: String) -> Any? {
    guard let value = header[name], !(value is NSNull) else { return nil }
    return value
  }

  private static func integer(_ value: Any) -> Int? {
    guard let n = value as? NSNumber, !isBool(n) else { return nil }
    let d = n.doubleValue
    guard d.rounded() == d, abs(d) < 9e15 else { return nil }
    return n.intValue
  }

  private static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}
