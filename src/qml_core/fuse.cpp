// Gate fusion (see fuse.hpp), in three passes: operations are parsed and checked;
// runs of single-qubit gates on one qubit become blocks; each single-qubit block then
// folds into a neighbouring two-qubit block. Executors then apply fewer, larger gates.
#include "fuse.hpp"

#include <array>
#include <utility>

namespace qml {
namespace {

constexpr int kMaxGateQubits = kMaxTargets;  // the widest gate a block holds

struct Op {
  std::int32_t gate;
  std::int32_t first;  // its targets, then its controls, in parse's `qubits`
  std::int32_t num_targets;
  std::int32_t num_controls;
  std::int64_t control_values;
};

struct Step {
  std::int32_t gate;
  std::int32_t num_places;
  std::array<std::int32_t, kMaxGateQubits> places;
};

struct Spec {
  std::vector<std::int32_t> targets, controls;
  std::int64_t control_values = 0;
  std::vector<Step> steps;
};

// Reads the word stream; false (with error set) at the first malformed operation.
bool parse(Span<std::int64_t> words, std::int64_t num_ops, const GateTable& gates,
           std::int64_t num_qubits, std::vector<Op>& ops, std::vector<std::int32_t>& qubits,
           std::int64_t* error) {
  std::vector<std::int64_t> seen(num_qubits, -1);
  std::size_t w = 0;
  const auto next = [&](std::int64_t& value) {
    if (w >= words.size) return false;
    value = words[w++];
    return true;
  };
  const auto qubit = [&](std::int64_t k) {
    std::int64_t q;
    if (!next(q) || q < 0 || q >= num_qubits || seen[q] == k) return false;
    seen[q] = k;
    qubits.push_back(std::int32_t(q));
    return true;
  };
  for (std::int64_t k = 0; k < num_ops; ++k) {
    error[0] = kMalformedOperation;
    error[1] = k;
    std::int64_t gate, targets, controls;
    if (!next(gate) || gate < 0 || std::size_t(gate) >= gates.widths.size) return false;
    if (!next(targets) || targets != gates.widths[gate]) return false;
    Op op{std::int32_t(gate), std::int32_t(qubits.size()), std::int32_t(targets), 0, 0};
    for (std::int64_t t = 0; t < targets; ++t)
      if (!qubit(k)) return false;
    if (!next(controls) || controls < 0 || controls > num_qubits) return false;
    op.num_controls = std::int32_t(controls);
    for (std::int64_t c = 0; c < controls; ++c)
      if (!qubit(k)) return false;
    for (std::int64_t c = 0; c < controls; ++c) {
      std::int64_t value;
      if (!next(value) || (value != 0 && value != 1)) return false;
      if (c < 63) op.control_values |= value << c;  // more controls: refused or dropped below
    }
    const std::int8_t role = gates.roles[gate];
    const bool fused = role == kConstantGate || role == kSymbolicGate;
    if (fused && (targets > kMaxGateQubits || targets + controls > kMaxRegisterQubits))
      return false;
    ops.push_back(op);
  }
  if (w != words.size) return false;
  error[0] = kFuseOk;
  return true;
}

// Runs of uncontrolled single-qubit gates on one qubit become one block each.
std::vector<Spec> single_qubit_runs(const std::vector<Op>& ops,
                                    const std::vector<std::int32_t>& qubits,
                                    std::int64_t num_qubits) {
  std::vector<Spec> specs;
  std::vector<std::vector<Step>> pending(num_qubits);
  const auto flush = [&](std::int32_t q) {
    if (pending[q].empty()) return;
    Spec run;
    run.targets = {q};
    run.steps.swap(pending[q]);
    specs.push_back(std::move(run));
  };
  for (const Op& op : ops) {
    const std::int32_t* on = qubits.data() + op.first;
    if (op.num_targets == 1 && op.num_controls == 0) {
      pending[on[0]].push_back(Step{op.gate, 1, {0, 0, 0, 0}});
      continue;
    }
    for (std::int32_t i = 0; i < op.num_targets + op.num_controls; ++i) flush(on[i]);
    Spec spec;
    spec.targets.assign(on, on + op.num_targets);
    spec.controls.assign(on + op.num_targets, on + op.num_targets + op.num_controls);
    spec.control_values = op.control_values;
    Step step{op.gate, op.num_targets, {0, 1, 2, 3}};
    spec.steps.push_back(step);
    specs.push_back(std::move(spec));
  }
  for (std::int32_t q = 0; q < num_qubits; ++q) flush(q);
  return specs;
}

// Folds each single-qubit block into the next block on its qubit when that is an
// uncontrolled two-qubit block, else into the previous one under the same condition.
// Nothing between them touches the qubit, so the product is unchanged.
//
// The next block comes first because circuits are mostly layers of rotations, each
// followed by entangling gates: a layer's rotations join the first gates after them,
// and the later gates of a CZ ladder (or any diagonal gates) stay diagonal, which the
// kernels apply at a fraction of a dense block's cost.
void absorb_into_two_qubit_blocks(std::vector<Spec>& specs, std::vector<char>& alive,
                                  std::int64_t num_qubits) {
  const auto host = [&](std::int64_t i) {
    return i >= 0 && alive[i] && specs[i].targets.size() == 2 && specs[i].controls.empty();
  };
  for (const int direction : {+1, -1}) {
    std::vector<std::int64_t> neighbour(num_qubits, -1);
    const std::int64_t count = std::int64_t(specs.size());
    for (std::int64_t n = 0; n < count; ++n) {
      const std::int64_t i = direction > 0 ? count - 1 - n : n;
      if (!alive[i]) continue;
      Spec& spec = specs[i];
      if (spec.targets.size() == 1 && spec.controls.empty()) {
        const std::int64_t other = neighbour[spec.targets[0]];
        if (host(other)) {
          Spec& into = specs[other];
          const std::int32_t place = into.targets[0] == spec.targets[0] ? 0 : 1;
          for (Step& step : spec.steps) step.places[0] = place;
          into.steps.insert(direction > 0 ? into.steps.begin() : into.steps.end(),
                            spec.steps.begin(), spec.steps.end());
          alive[i] = 0;
          continue;
        }
      }
      for (std::int32_t q : spec.targets) neighbour[q] = i;
      for (std::int32_t q : spec.controls) neighbour[q] = i;
    }
  }
}

// out = (the step's gate on its places of a `size`-qubit block) * out, in place.
void apply_step(const Step& step, const GateTable& gates, int size, std::vector<cdouble>& out) {
  const std::int64_t dim = std::int64_t(1) << size;
  const int width = step.num_places;
  const std::int64_t gate_dim = std::int64_t(1) << width;
  const cdouble* gate = gates.matrices.data + gates.offsets[step.gate];
  std::int64_t offset[1 << kMaxGateQubits];  // row of the block for each gate index
  std::int64_t mask = 0;
  for (std::int64_t a = 0; a < gate_dim; ++a) {
    offset[a] = 0;
    for (int j = 0; j < width; ++j)
      if ((a >> (width - 1 - j)) & 1) offset[a] |= std::int64_t(1) << (size - 1 - step.places[j]);
  }
  for (int j = 0; j < width; ++j) mask |= std::int64_t(1) << (size - 1 - step.places[j]);
  double re[1 << kMaxGateQubits], im[1 << kMaxGateQubits];  // one column's entries
  for (std::int64_t base = 0; base < dim; ++base) {
    if (base & mask) continue;
    for (std::int64_t column = 0; column < dim; ++column) {
      for (std::int64_t a = 0; a < gate_dim; ++a) {
        const cdouble value = out[(base | offset[a]) * dim + column];
        re[a] = value.real();
        im[a] = value.imag();
      }
      for (std::int64_t a = 0; a < gate_dim; ++a) {
        double sum_re = 0, sum_im = 0;
        for (std::int64_t b = 0; b < gate_dim; ++b) {
          const cdouble g = gate[a * gate_dim + b];
          sum_re += g.real() * re[b] - g.imag() * im[b];
          sum_im += g.real() * im[b] + g.imag() * re[b];
        }
        out[(base | offset[a]) * dim + column] = cdouble(sum_re, sum_im);
      }
    }
  }
}

void emit_block(const Spec& spec, const GateTable& gates, FusedProgram& out) {
  bool constant = true;
  for (const Step& step : spec.steps) constant &= gates.roles[step.gate] == kConstantGate;
  std::int64_t matrix = -1;
  if (constant) {
    const int size = int(spec.targets.size());
    const std::int64_t dim = std::int64_t(1) << size;
    std::vector<cdouble> product(dim * dim, 0.0);
    for (std::int64_t i = 0; i < dim; ++i) product[i * dim + i] = 1.0;
    for (const Step& step : spec.steps) apply_step(step, gates, size, product);
    matrix = std::int64_t(out.matrices.size());
    out.matrices.insert(out.matrices.end(), product.begin(), product.end());
  }
  out.items.insert(out.items.end(),
                   {0, std::int64_t(out.qubits.size()), std::int64_t(spec.targets.size()),
                    std::int64_t(spec.controls.size()), spec.control_values,
                    std::int64_t(out.steps.size() / 2), std::int64_t(spec.steps.size()), matrix});
  out.qubits.insert(out.qubits.end(), spec.targets.begin(), spec.targets.end());
  out.qubits.insert(out.qubits.end(), spec.controls.begin(), spec.controls.end());
  for (const Step& step : spec.steps) {
    out.steps.insert(out.steps.end(), {step.gate, std::int32_t(out.places.size())});
    out.places.insert(out.places.end(), step.places.begin(), step.places.begin() + step.num_places);
  }
}

void emit_stretch(const std::vector<Op>& stretch, const std::vector<std::int32_t>& qubits,
                  const GateTable& gates, std::int64_t num_qubits, FusedProgram& out) {
  if (stretch.empty()) return;
  std::vector<Spec> specs = single_qubit_runs(stretch, qubits, num_qubits);
  std::vector<char> alive(specs.size(), 1);
  absorb_into_two_qubit_blocks(specs, alive, num_qubits);
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (alive[i]) emit_block(specs[i], gates, out);
}

void emit_channel(const Op& op, const std::vector<std::int32_t>& qubits, FusedProgram& out) {
  out.items.insert(out.items.end(),
                   {1, std::int64_t(out.qubits.size()), op.num_targets, 0, 0,
                    std::int64_t(out.steps.size() / 2), 1, -1});
  out.steps.insert(out.steps.end(), {op.gate, std::int32_t(out.places.size())});
  for (std::int32_t t = 0; t < op.num_targets; ++t) {
    out.qubits.push_back(qubits[op.first + t]);
    out.places.push_back(t);
  }
}

}  // namespace

FusedProgram fuse(Span<std::int64_t> words, std::int64_t num_ops, const GateTable& gates,
                  std::int64_t num_qubits) {
  FusedProgram out;
  std::vector<Op> ops;
  std::vector<std::int32_t> qubits;
  if (!parse(words, num_ops, gates, num_qubits, ops, qubits, out.error)) return out;
  // Measurements may only end a circuit: nothing after one may touch its qubits.
  std::vector<std::int64_t> measured(num_qubits, -1);
  std::vector<Op> stretch;  // the gates since the last channel
  for (std::size_t k = 0; k < ops.size(); ++k) {
    const Op& op = ops[k];
    const std::int32_t* on = qubits.data() + op.first;
    for (std::int32_t i = 0; i < op.num_targets + op.num_controls; ++i)
      if (measured[on[i]] >= 0) {
        out.error[0] = kGateAfterMeasure;
        out.error[1] = std::int64_t(k);
        out.error[2] = on[i];
        out.error[3] = measured[on[i]];
        return out;
      }
    const std::int8_t role = gates.roles[op.gate];
    if (role == kChannelGate && op.num_controls) {
      out.error[0] = kControlledChannel;
      out.error[1] = std::int64_t(k);
      return out;
    }
    if (role == kMeasureGate) {
      if (op.num_controls) {
        out.error[0] = kControlledMeasure;
        out.error[1] = std::int64_t(k);
        return out;
      }
      for (std::int32_t i = 0; i < op.num_targets; ++i) measured[on[i]] = std::int64_t(k);
    } else if (role == kChannelGate) {
      emit_stretch(stretch, qubits, gates, num_qubits, out);
      stretch.clear();
      emit_channel(op, qubits, out);
    } else if (role != kIdentityGate) {
      stretch.push_back(op);
    }
  }
  emit_stretch(stretch, qubits, gates, num_qubits, out);
  return out;
}

}  // namespace qml
