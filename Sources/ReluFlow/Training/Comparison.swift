import Foundation

/// Several methods on one problem (`reluflow compare`): per method its run (read back from its
/// folder) and the wall-clock time at each of its samples, then `comparison.csv` and
/// `comparison.svg` (INTERFACE.md).
public struct Comparison: Sendable {
    /// One method's run.
    public struct Entry: Sendable {
        /// "flow" or a training method's name.
        public var method: String
        public var run: FlowSolution
        /// Wall seconds since the run started, at each sample of `run.samples` (same order).
        public var wall: [Double]
        public var plateaus: [Plateau]

        public init(method: String, run: FlowSolution, wall: [Double], plateaus: [Plateau]) {
            precondition(wall.count == run.samples.count)
            self.method = method
            self.run = run
            self.wall = wall
            self.plateaus = plateaus
        }

        /// Whether the run ended in a numerical failure (the engine's diagnosis in its summary's
        /// `message`, its folder holding the last good state): what it reached is no result of the
        /// method, so no "final" figure is derived from it.
        public var failed: Bool { run.status == .failed }

        /// Whether the run (a flow) was stopped by its work budget before T (status `stopped`,
        /// `flow.maxRhsEvaluations`): nothing failed, what it reached is the flow's (its escape
        /// time, when reached, is exact), but it did not reach its end, so no "final" figure is
        /// derived from it either.
        public var stopped: Bool { run.status == .stopped }

        /// Failed or stopped: the run ended before its end time.
        public var endedEarly: Bool { failed || stopped }

        /// The one-line reason of a failed or stopped run (the first line of its diagnosis); nil otherwise.
        public var reason: String? {
            guard endedEarly else { return nil }
            let text = (run.message ?? "").split(separator: "\n").first.map(String.init) ?? ""
            return text.isEmpty ? "no diagnosis recorded" : text
        }

        /// The run's first plateau cut off by its failure or stop: it lasts to where the run
        /// stopped, so its end is unknown (and "terminal", lasting to T, does not apply).
        var plateauCutByFailure: Bool { endedEarly && plateaus.first?.terminal == true }

        /// For a run that never escaped (SPEC §7): the time it was followed to, which its escape
        /// time exceeds (right-censored there: T for a completed run, where it stopped for a failed
        /// or stopped one); nil when it escaped.
        public var escapeCensoredAt: Double? {
            Comparison.escapeTime(self) == nil ? run.finalTime : nil
        }
    }

    public var entries: [Entry]
    /// Methods asked for that were not run, with the reason (a flow this build does not integrate
    /// on this network: `FlowCapability`).
    public var notRun: [(method: String, reason: String)]
    /// λ_max and λ_min of the Hessian at the shared θ(0) (in θ(0)'s mode, σ'(0) = 0; Lanczos on
    /// exact products, `initialCurvature`), when computed.
    public var curvature: LanczosExtremes?

    public init(entries: [Entry], notRun: [(method: String, reason: String)] = [], curvature: LanczosExtremes? = nil) {
        self.entries = entries
        self.notRun = notRun
        self.curvature = curvature
    }

    /// The extreme Hessian eigenvalues at θ(0) of `problem` (SPEC §8: exact Hessian–vector products
    /// in θ(0)'s mode, Lanczos to 1e-10 relative residual; exact when it exhausts the space).
    public static func initialCurvature(_ problem: FlowProblem) throws -> LanczosExtremes {
        let network = CurvatureReport.deepNetwork(of: problem.model)
        let hessian = DeepHessian(network: network, data: problem.data, theta: problem.theta0)
        return try LanczosExtremes.run(dimension: network.parameterCount, tolerance: 1e-10, maxIterations: 400, product: hessian.product)
    }

    /// Whether an entry is a flow (the gradient flow or an adaptive one), not a discrete method.
    static func isFlow(_ e: Entry) -> Bool { e.run.training == nil }

    /// The loss levels of the table: 10% and 1% of L(0), and twice the flow's final loss when the
    /// flow is among the methods. Name and level; the last level is nil (its cells empty, `notes`
    /// says why) when the flow failed or was stopped by its budget: the loss where it stopped is
    /// no final loss.
    public var levels: [(name: String, loss: Double?)] {
        guard let first = entries.first else { return [] }
        let l0 = first.run.diagnostics.initialLoss
        var out: [(name: String, loss: Double?)] = [("10pct", 0.1 * l0), ("1pct", 0.01 * l0)]
        if let flow = entries.first(where: { $0.method == "flow" }) {
            out.append(("2xFlowFinal", flow.endedEarly ? nil : 2 * flow.run.finalLoss))
        }
        return out
    }

    /// The methods whose run failed (`Entry.failed`), in the order run.
    public var failedMethods: [Entry] { entries.filter(\.failed) }

    /// The flows stopped by their work budget (`Entry.stopped`), in the order run.
    public var stoppedMethods: [Entry] { entries.filter(\.stopped) }

    /// What the tables leave out because a run failed or was stopped, and what a reader would
    /// otherwise misread (SGD whose minibatch holds every data point is GD), one sentence each
    /// (compare.json's `notes`).
    public var notes: [String] {
        var out: [String] = []
        for e in entries where e.run.training?.method == .sgd {
            if let batch = e.run.training?.batch, batch >= e.run.problem.data.count {
                out.append("\(e.method)'s minibatch (\(batch) points: train.batch, at most m) holds all \(e.run.problem.data.count) data points: "
                           + "its iterates are full-batch gradient descent's (gd's, at the same learning rate); a batch below "
                           + "\(e.run.problem.data.count) makes them stochastic")
            }
        }
        if let flow = entries.first(where: { $0.method == "flow" }), flow.endedEarly {
            out.append(String(format: "the gradient flow %@ at t = %.6g (flow.reason): its loss there is no final loss, so the level "
                              + "2xFlowFinal (twice the flow's final loss) is not defined and its columns in comparison.csv are empty",
                              flow.failed ? "failed" : "was stopped by its work budget", flow.run.finalTime))
        }
        for e in entries where e.endedEarly {
            var note = e.failed
                ? "\(e.method) failed (\(e.method).reason): its finalTime and finalLoss are null; lastGoodTime and lastGoodLoss are where it stopped"
                : "\(e.method) was stopped by its work budget before T (\(e.method).reason): its finalTime and finalLoss are null; "
                    + "lastGoodTime and lastGoodLoss are where it stopped, and everything before is the flow's"
                    + (Self.escapeTime(e) == nil ? " (it had not escaped: its escape time exceeds lastGoodTime, escapeCensoredAt)"
                                                 : " (its escapeTime, reached before the stop, is exact)")
            if e.plateauCutByFailure { note += "; its first plateau lasts to the \(e.failed ? "failure" : "stop"), so firstPlateauEnd and firstPlateauTerminal are null" }
            out.append(note)
        }
        return out
    }

    /// The first sample at or below `level`: its t, iteration (nil for the flow) and wall seconds.
    /// Resolved to the sample grid (log-spaced samples plus every pattern change).
    static func reached(_ entry: Entry, _ level: Double) -> (t: Double, iteration: Int?, wall: Double)? {
        guard let k = entry.run.samples.firstIndex(where: { $0.loss <= level }) else { return nil }
        let s = entry.run.samples[k]
        return (s.t, s.iteration, entry.wall[k])
    }

    /// The three cells t, iteration, wall seconds of a level reached (empty when not reached; the
    /// iteration empty for the flow).
    static func write(_ r: (t: Double, iteration: Int?, wall: Double)?, to writer: inout CSVWriter) {
        guard let r else {
            for _ in 0..<3 { writer.text("") }
            return
        }
        writer.number(r.t)
        if let k = r.iteration { writer.integer(k) } else { writer.text("") }
        writer.number(r.wall)
    }

    /// `comparison.csv`: one row per method. `t` is the time the run reached (for a failed or
    /// stopped run where it stopped); such a run's `finalLoss` is empty, and so are its first
    /// plateau's end and `terminal` when the stop cut that plateau off; `status` (`completed`,
    /// `failed`, or `stopped` by a flow's work budget) and `reason` (the diagnosis, one line)
    /// close the row, then `escapeCensoredAt` (`Entry.escapeCensoredAt`: empty when it escaped).
    public func csv() -> Data {
        var header = ["method", "iterations", "t", "wallSeconds", "finalLoss", "escapeTime", "plateaus", "plateauTime"]
        for (name, _) in levels { header += ["t_\(name)", "iterations_\(name)", "wall_\(name)"] }
        header += ["escapeIteration", "firstPlateauStart", "firstPlateauEnd", "firstPlateauTerminal", "status", "reason", "escapeCensoredAt"]
        var writer = CSVWriter(header: header)
        for e in entries {
            writer.text(e.method)
            if let k = e.run.training?.iterations { writer.integer(k) } else { writer.text("") }
            writer.numbers([e.run.finalTime, e.run.diagnostics.wallSeconds])
            if e.endedEarly { writer.text("") } else { writer.number(e.run.finalLoss) }
            if let t = Self.escapeTime(e) { writer.number(t) } else { writer.text("") }
            writer.integer(e.plateaus.count)
            writer.number(e.plateaus.reduce(0) { $0 + ($1.tEnd - $1.tStart) })
            for (_, level) in levels {
                Self.write(level.flatMap { Self.reached(e, $0) }, to: &writer)
            }
            if let k = e.run.training?.escapeIteration { writer.integer(k) } else { writer.text("") }
            if let p = e.plateaus.first {
                writer.number(p.tStart)
                if e.plateauCutByFailure {
                    writer.text("")
                    writer.text("")
                } else {
                    writer.number(p.tEnd)
                    writer.text(p.terminal ? "true" : "false")
                }
            } else {
                for _ in 0..<3 { writer.text("") }
            }
            writer.text(e.run.status.rawValue)
            writer.text(e.reason.map(CSVText.quoted) ?? "")
            if let t = e.escapeCensoredAt { writer.number(t) } else { writer.text("") }
            writer.endRow()
        }
        return writer.data
    }

    /// The escape time (SPEC §7) of the run's summary: a training run's first iterate below
    /// (1 − δ) L(0), a flow's crossing located inside its step.
    static func escapeTime(_ e: Entry) -> Double? {
        if let training = e.run.training { return training.escapeTime }
        return e.run.diagnostics.escapeTime
    }

    /// `compare.json`: what the comparison ran and each method's status (with a failed one's
    /// one-line `reason`), escape, first plateau and end, one object per method (scalars only, so
    /// that `reluflow collect` tabulates a sweep of comparisons as `METHOD.FIGURE` columns), the
    /// methods not run and why, the network's depth and width, and λ_max, λ_min at θ(0).
    /// `status` is the comparison's: `completed` once every method ran to its end, which for a
    /// method may be a numerical failure (its own `status` `failed`, listed in `failedMethods`,
    /// its last good state in its run folder); a failed method's `finalTime` and `finalLoss` are
    /// null (`lastGoodTime`, `lastGoodLoss` say where it stopped) and `notes` says what else the
    /// tables leave out for it.
    ///
    /// An interrupted comparison (`interrupted`: the method that was running and those after it)
    /// has `status` `interrupted`, the finished methods in `methods` and their objects, and
    /// `interruptedMethod`, `remainingMethods` (`reluflow compare --resume` runs them).
    public func summaryJSON(layers: [Int], interrupted: (method: String, remaining: [String])? = nil) throws -> Data {
        var root: [(String, JSONValue)] = [("status", .string(interrupted == nil ? "completed" : "interrupted"))]
        if let interrupted {
            root.append(("interruptedMethod", .string(interrupted.method)))
            root.append(("remainingMethods", .array(interrupted.remaining.map { .string($0) })))
        }
        root.append(("methods", .array(entries.map { .string($0.method) })))
        root.append(("failedMethods", .array(failedMethods.map { .string($0.method) })))
        root.append(("stoppedMethods", .array(stoppedMethods.map { .string($0.method) })))
        root.append(("notes", .array(notes.map { .string($0) })))
        root.append(("notRun", .array(notRun.map { .object([("method", .string($0.method)), ("reason", .string($0.reason))]) })))
        root.append(("depth", .number(Double(layers.count - 1))))
        let hidden = layers.dropFirst().dropLast()
        root.append(("width", hidden.allSatisfy { $0 == hidden.first } && !hidden.isEmpty ? .number(Double(hidden.first!)) : .null))
        root.append(("parameters", .number(Double(entries.first?.run.problem.model.parameterCount ?? 0))))
        root.append(("initialLoss", entries.first.map { .number($0.run.diagnostics.initialLoss) } ?? .null))
        root.append(("lambdaMax", curvature.map { .number($0.lambdaMax) } ?? .null))
        root.append(("lambdaMin", curvature.map { .number($0.lambdaMin) } ?? .null))
        func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .number($0) : .null } ?? .null }
        for e in entries {
            let s = RunSummary(e.run)
            let first = e.plateaus.first
            let cut = e.plateauCutByFailure
            var fields: [(String, JSONValue)] = [
                ("status", .string(s.status.rawValue)), ("reason", e.reason.map(JSONValue.string) ?? .null),
                ("escapeTime", number(Self.escapeTime(e))),
                ("escapeIteration", number(e.run.training?.escapeIteration.map(Double.init))),
                ("escapeDelta", number(e.run.training?.escapeDelta ?? e.run.problem.options.escapeDelta)),
                ("escapeCensoredAt", number(e.escapeCensoredAt)),
                ("firstPlateauStart", number(first?.tStart)), ("firstPlateauEnd", cut ? .null : number(first?.tEnd)),
                ("firstPlateauTerminal", cut ? .null : first.map { .bool($0.terminal) } ?? .null),
                ("finalTime", e.endedEarly ? .null : number(s.finalTime)), ("finalLoss", e.endedEarly ? .null : number(s.finalLoss)),
                ("wallSeconds", number(s.wallSeconds)),
            ]
            if e.endedEarly { fields += [("lastGoodTime", number(s.finalTime)), ("lastGoodLoss", number(s.finalLoss))] }
            if e.run.training == nil {
                // A flow's work: what its budget (`flow.maxRhsEvaluations`, when set) counts.
                fields += [("rhsEvaluations", .number(Double(s.rhsEvaluations))),
                           ("maxRhsEvaluations", number(e.run.problem.options.maxRhsEvaluations.map(Double.init)))]
            }
            if let training = e.run.training {
                fields += [("lr", .number(training.lr)), ("iterations", .number(Double(training.iterations)))]
            }
            root.append((e.method, .object(fields)))
        }
        return Data((JSONValue.object(root).text + "\n").utf8)
    }

    /// `plateau_exits.csv`: for each plateau of the flow that ends before the run does, the loss
    /// at its end, and when each method first reaches that loss (t, iteration, wall seconds; empty
    /// if never): how long each method needs to leave the flow's plateaus. Resolved to each run's
    /// samples. Empty (header only) without a flow run.
    public func plateauExitsCSV() -> Data {
        var writer = CSVWriter(header: ["plateau", "flowTStart", "flowTEnd", "exitLoss", "method", "t", "iteration", "wallSeconds"])
        guard let flow = entries.first(where: { $0.method == "flow" }) else { return writer.data }
        for (k, p) in flow.plateaus.enumerated() where !p.terminal {
            guard let exit = flow.run.samples.first(where: { $0.t >= p.tEnd }) else { continue }
            for e in entries {
                writer.integer(k)
                writer.numbers([p.tStart, p.tEnd, exit.loss])
                writer.text(e.method)
                Self.write(Self.reached(e, exit.loss), to: &writer)
                writer.endRow()
            }
        }
        return writer.data
    }

    /// `wall_times.csv`: the wall-clock seconds of every sample of every method (`method, t,
    /// wallSeconds`, in the runs' sample order), which `plot` needs to redraw the figure.
    public func wallTimesCSV() -> Data {
        var writer = CSVWriter(header: ["method", "t", "wallSeconds"])
        for e in entries {
            for (s, w) in zip(e.run.samples, e.wall) {
                writer.text(e.method)
                writer.numbers([s.t, w])
                writer.endRow()
            }
        }
        return writer.data
    }

    /// A compare folder read back: its runs (sub-folders named by method, in `wall_times.csv`'s
    /// order) with their samples, events and patterns, wall times and plateaus.
    public static func read(folder: String, criteria: PlateauCriteria = PlateauCriteria()) throws -> Comparison {
        let path = (folder as NSString).appendingPathComponent("wall_times.csv")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError("DIR", "\(folder) is not a compare folder (no readable wall_times.csv)")
        }
        var order: [String] = [], walls: [String: [Double]] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == 3, let w = Double(fields[2]) else { throw InputError("DIR", "\(path) has a malformed row") }
            let method = String(fields[0])
            if walls[method] == nil { order.append(method) }
            walls[method, default: []].append(w)
        }
        var entries: [Entry] = []
        for method in order {
            let sub = (folder as NSString).appendingPathComponent(method)
            let (_, run) = try RunFolderReader(sub, field: "DIR").run()
            guard run.samples.count == walls[method]!.count else {
                throw InputError("DIR", "\(path) does not list every sample of \(sub)")
            }
            var full = run
            full.last = run.samples.last
            entries.append(Entry(method: method, run: full, wall: walls[method]!, plateaus: try PlateauReport.plateaus(run, criteria: criteria)))
        }
        var notRun: [(method: String, reason: String)] = []
        if let bytes = try? RunFolder.readFile((folder as NSString).appendingPathComponent("compare.json")),
           let summary = try? JSONValue.parse(bytes, source: "compare.json"), case .array(let list)? = summary["notRun"] {
            for item in list {
                if case .string(let method)? = item["method"], case .string(let reason)? = item["reason"] { notRun.append((method, reason)) }
            }
        }
        return Comparison(entries: entries, notRun: notRun)
    }

    /// `comparison.svg`: the loss of every method against t (log–log) and against wall time, each
    /// method's plateaus shaded lightly in its colour.
    public func svg() -> String {
        let runs = entries.map { e in (e, e.run.samples.indices.filter { e.run.samples[$0].t > 0 && e.run.samples[$0].loss > 0 }) }
        let allT = runs.flatMap { e, idx in idx.map { e.run.samples[$0].t } }
        // Losses far below L(0)·1e-12 (an interpolating fit's rounding) would squash the other curves:
        // the axis stops there and the caption says so.
        let l0 = entries.first?.run.diagnostics.initialLoss ?? 1
        let floor = l0 * 1e-12
        let allL = runs.flatMap { e, idx in idx.map { max(e.run.samples[$0].loss, floor) } }
        let clipped = runs.contains { e, idx in idx.contains { e.run.samples[$0].loss < floor } }
        let allW = runs.flatMap { e, idx in idx.map { e.wall[$0] } }.filter { $0 > 0 }
        // The y axis reaches down to a labelled tick below the lowest loss (no curve ends below the last tick).
        let lossValues = allL.isEmpty ? [1e-3, 1] : allL
        let yScale = Scale(.log, covering: lossValues, pixels: (0, 1)).extendedDown(toTickBelow: lossValues.min()!, target: Chart.tickTarget(200))
        var top = Chart(frame: (RunFigures.left, 44, RunFigures.panelWidth, 200), x: Scale(.log, covering: allT.isEmpty ? [1e-3, 1] : allT, pixels: (0, 1), pad: 0), y: yScale,
                        title: "Loss against t",
                        xLabel: "t (log scale)", yLabel: "loss L (log scale)", id: "loss-t")
        // Built once the upper panel (and so the height of its legend) is complete.
        func lower(top: Double) -> Chart { Chart(frame: (RunFigures.left, top, RunFigures.panelWidth, 200), x: Scale(.log, covering: allW.isEmpty ? [1e-3, 1] : allW, pixels: (0, 1), pad: 0),
                           y: yScale, title: "Loss against wall-clock time",
                           xLabel: "wall time since start, s (log scale)", yLabel: "loss L (log scale)", id: "loss-wall") }
        var wallSeries: [(String, [(Double, Double)], SeriesStyle, Bool)] = []
        // Only the flow's plateaus are shaded (the reference; the others' are in comparison.csv):
        // bands of several methods overlap into grey that says nothing.
        if let flow = entries.first(where: { $0.method == "flow" }), !flow.plateaus.isEmpty {
            top.bands("flow plateaus (numbered)", flow.plateaus.map { ($0.tStart, $0.tEnd) }, fill: "#000000", opacity: 0.08, numbered: true)
        }
        var stopped: [String] = []
        for (k, (e, idx)) in runs.enumerated() {
            var style = SeriesStyle.nth(k, width: 2)
            style.colour = SeriesStyle.colours[(k + 1) % SeriesStyle.colours.count]
            // A run that stopped early (status failed or interrupted, from its summary.json) ends
            // with a cross where it stopped, and its legend entry says when.
            let stop = Self.stopNote(e)
            // (A flow that stopped is not "exact" to its end: the note replaces the word.)
            let name = stop.map { Self.label(e).replacingOccurrences(of: " (exact)", with: "") + ", " + $0 } ?? Self.label(e)
            top.line(name, idx.map { (e.run.samples[$0].t, max(e.run.samples[$0].loss, floor)) },
                     style: style, endMarker: stop == nil ? .none : .cross)
            wallSeries.append((stop.map { Self.label(e, timeNote: false).replacingOccurrences(of: " (exact)", with: "") + ", " + $0 } ?? Self.label(e, timeNote: false),
                               idx.filter { e.wall[$0] > 0 }.map { (e.wall[$0], max(e.run.samples[$0].loss, floor)) }, style, stop != nil))
            if let stop {
                // The message's first clause (the diagnosis; its details are in summary.json).
                var why = e.run.message.map { String($0.prefix { $0 != ":" && $0 != ";" }) } ?? "no message"
                if why.count > 120 { why = String(why.prefix(117)) + "…" }
                stopped.append("\(e.method) \(stop): \(why) (\(e.method)/summary.json)")
            }
        }
        var bottom = lower(top: top.bottom(legendBelow: true) + 40)
        for (name, points, style, stop) in wallSeries { bottom.line(name, points, style: style, endMarker: stop ? .cross : .none) }
        var figure = Figure(width: top.rightEdge(), height: bottom.bottom(legendBelow: true),
                            panels: [top.svg(legendPlace: .below), bottom.svg(legendPlace: .below)])
        var caption = "Same data, network and θ(0) for every method; t = k·η after k steps of a gradient method, "
            + "t = k after k sweeps of ANLS; shaded: the gradient flow's plateaus; wall times of this machine"
        if entries.contains(where: { $0.run.training?.method == .anls }) {
            caption += "; ANLS as this toolkit reads the plateau paper's idea"
        }
        if clipped { caption += "; losses below 10⁻¹² L(0) drawn at that level" }
        if !notRun.isEmpty { caption += "; not run: " + notRun.map(\.method).joined(separator: ", ") + " (see compare.json)" }
        if !stopped.isEmpty { caption += "; ✕: where a run stopped: " + stopped.joined(separator: "; ") }
        figure.caption = caption
        return figure.svg()
    }

    /// "failed at t = 1.701" (or "interrupted at …") for a run that stopped before its end, nil
    /// for a completed one: read from the run's own status (summary.json's `status`, the time its
    /// last sample reached).
    static func stopNote(_ e: Entry) -> String? {
        guard e.run.status != .completed else { return nil }
        let t = e.run.last?.t ?? e.run.samples.last?.t ?? e.run.finalTime
        let time = (e.run.training.map { "iteration \($0.iterations), " } ?? "") + "t = " + RunFigures.roundedTime(t)
        return "\(e.run.status.rawValue) at \(time)"
    }

    /// A legend entry a reader understands without the docs.
    static func label(_ e: Entry, timeNote: Bool = true) -> String {
        guard let training = e.run.training else {
            switch e.method {
            case FlowMethod.rmsprop.rawValue: return "RMSProp flow (exact)"
            case FlowMethod.adam.rawValue: return "Adam flow (exact)"
            default: return "gradient flow (exact)"
            }
        }
        let batch = training.batch.map { ", batch \($0)" } ?? ""
        switch training.method {
        case .gd: return "gradient descent, η = \(String(format: "%.3g", training.lr))"
        case .sgd: return "SGD, batch \(training.batch ?? 0), η = \(String(format: "%.3g", training.lr))"
        case .adam: return "Adam, η = \(String(format: "%.3g", training.lr))\(batch)"
        case .rmsprop: return "RMSProp, η = \(String(format: "%.3g", training.lr))\(batch)"
        case .anls: return timeNote ? "ANLS, our reading (t = sweep)" : "ANLS, our reading"
        }
    }
}
