import Foundation
import Relevance

/// The records of one run: `<kind>.settings.json`, `<kind>.jsonl` (one record per line, appended
/// as images complete), `<kind>.summary.json` and `<kind>.csv`.
final class RecordStore {
  let directory: String
  let kind: String
  let settings: EvaluationSettings
  private(set) var records: [EvaluationRecord] = []
  private var handle: FileHandle?

  var recordsPath: String { (directory as NSString).appendingPathComponent("\(kind).jsonl") }
  var settingsPath: String { (directory as NSString).appendingPathComponent("\(kind).settings.json") }
  var summaryPath: String { (directory as NSString).appendingPathComponent("\(kind).summary.json") }
  var csvPath: String { (directory as NSString).appendingPathComponent("\(kind).csv") }

  /// Opens (or starts) the run in `directory`; an existing run must have the same settings.
  /// `fresh`: replace what is there.
  init(directory: String, kind: String, settings: EvaluationSettings, fresh: Bool = false) throws {
    self.directory = directory
    self.kind = kind
    self.settings = settings
    try makeDirectory(directory)
    if !fresh, FileManager.default.fileExists(atPath: settingsPath) {
      let existing = try RecordStore.readSettings(settingsPath)
      guard existing == settings else {
        throw ModelError(file: directory, "holds a \(kind) run with other settings (\(RecordStore.difference(existing, settings))); use another --output or delete it")
      }
      records = try RecordStore.readRecords(recordsPath)
      // Rewritten without a line an interruption cut off, so appends start on a fresh line.
      try writeAtomically(Data(try records.map { try RecordStore.line($0) }.joined()), to: recordsPath)
    } else {
      try writeAtomically(RecordStore.encoder().encode(settings), to: settingsPath)
      try writeAtomically(Data(), to: recordsPath)
    }
    guard let handle = FileHandle(forWritingAtPath: recordsPath) else { throw ModelError(file: recordsPath, "cannot be opened for writing") }
    handle.seekToEndOfFile()
    self.handle = handle
  }

  /// A finished or interrupted run, for merging.
  static func open(directory: String) throws -> (settings: EvaluationSettings, records: [EvaluationRecord]) {
    for kind in ["pointing", "ablation"] {
      let settings = (directory as NSString).appendingPathComponent("\(kind).settings.json")
      if FileManager.default.fileExists(atPath: settings) {
        return (try readSettings(settings), try readRecords((directory as NSString).appendingPathComponent("\(kind).jsonl")))
      }
    }
    throw ModelError(file: directory, "holds no evaluation run (no pointing.settings.json or ablation.settings.json)")
  }

  /// Appends one record as one line and flushes it, so an interruption loses at most the image
  /// in progress.
  func append(_ record: EvaluationRecord) throws {
    handle?.write(try RecordStore.line(record))
    records.append(record)
  }

  /// A record as one line of JSON with its newline.
  static func line(_ record: EvaluationRecord) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var line = try encoder.encode(record)
    line.append(0x0A)
    return line
  }

  func writeSummary(_ summary: EvaluationSummary) throws {
    try writeAtomically(RecordStore.encoder().encode(summary), to: summaryPath)
    try writeAtomically(Data(summary.csv.utf8), to: csvPath)
  }

  static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return encoder
  }

  static func readSettings(_ path: String) throws -> EvaluationSettings {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let data = FileManager.default.contents(atPath: path) else { throw ModelError(file: path, "not readable") }
    do { return try decoder.decode(EvaluationSettings.self, from: data) } catch {
      throw ModelError(file: path, "is not a clrp evaluation settings file")
    }
  }

  /// The records of a JSON-lines file; a last line cut off by an interruption is dropped.
  static func readRecords(_ path: String) throws -> [EvaluationRecord] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
    var records: [EvaluationRecord] = []
    for (i, line) in lines.enumerated() {
      do { records.append(try JSONDecoder().decode(EvaluationRecord.self, from: Data(line))) } catch {
        if i == lines.count - 1 { break }
        throw ModelError(file: path, "line \(i + 1) is not a record")
      }
    }
    return records
  }

  static func difference(_ a: EvaluationSettings, _ b: EvaluationSettings) -> String {
    let mirrorA = Mirror(reflecting: a), mirrorB = Mirror(reflecting: b)
    let differing = zip(mirrorA.children, mirrorB.children).filter { "\($0.value)" != "\($1.value)" }.compactMap(\.0.label)
    return differing.isEmpty ? "same" : "differ in " + differing.joined(separator: ", ")
  }
}
