// Thin Python bindings: numpy arrays in, checked, then the GIL is released while the
// batch runs. See qml/executors/native.py for the Python side.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "fuse.hpp"
#include "simulate.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <class T>
using In = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;
template <class T>
using Out = nb::ndarray<T, nb::c_contig, nb::device::cpu>;

template <class T>
qml::Span<T> span(const In<T>& array) {
  return {array.data(), array.size()};
}

qml::Batch make_batch(const In<std::int64_t>& ops, const In<std::int32_t>& op_qubits,
                      const In<std::int64_t>& program_ops, const In<std::int32_t>& program_qubits,
                      const In<std::int32_t>& program_phases, const In<std::int64_t>& terms,
                      const In<qml::cfloat>& matrices, const In<double>& phases,
                      const In<std::int32_t>& row_qubits,
                      const In<std::int64_t>& row_pieces, const In<std::int64_t>& pieces,
                      const In<std::int32_t>& positions, std::size_t num_operators,
                      const In<std::int32_t>& row_opset, const In<std::int64_t>& opset_terms,
                      const In<std::uint64_t>& term_masks, const In<qml::cdouble>& term_coefs) {
  qml::Batch b;
  b.ops = span(ops);
  b.op_qubits = span(op_qubits);
  b.program_ops = span(program_ops);
  b.program_qubits = span(program_qubits);
  b.program_phases = span(program_phases);
  b.terms = span(terms);
  b.matrices = span(matrices);
  b.phases = span(phases);
  b.row_qubits = span(row_qubits);
  b.row_pieces = span(row_pieces);
  b.pieces = span(pieces);
  b.positions = span(positions);
  b.num_operators = num_operators;
  b.row_opset = span(row_opset);
  b.opset_terms = span(opset_terms);
  b.term_masks = span(term_masks);
  b.term_coefs = span(term_coefs);
  return b;
}

void check_states(const qml::Batch& b, std::size_t states_size, const In<std::int64_t>& offsets,
                  const char* name) {
  if (offsets.size() != b.num_rows())
    throw std::invalid_argument("state_offsets must have one entry per row");
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    const std::int64_t start = offsets.data()[r];
    const std::uint64_t size = b.row_qubits[r] ? std::uint64_t(1) << b.row_qubits[r] : 0;
    if (start < 0 || std::uint64_t(start) + size > states_size)
      throw std::invalid_argument(std::string(name) + ": row " + std::to_string(r) +
                                  "'s state lies outside the array");
  }
}

#define QML_BATCH_ARGS                                                                  \
  const In<std::int64_t>&ops, const In<std::int32_t>&op_qubits,                         \
      const In<std::int64_t>&program_ops, const In<std::int32_t>&program_qubits,        \
      const In<std::int32_t>&program_phases, const In<std::int64_t>&terms,              \
      const In<qml::cfloat>&matrices, const In<double>&phases,                          \
      const In<std::int32_t>&row_qubits,                                                \
      const In<std::int64_t>&row_pieces, const In<std::int64_t>&pieces,                \
      const In<std::int32_t>&positions, std::size_t num_operators,                      \
      const In<std::int32_t>&row_opset, const In<std::int64_t>&opset_terms,             \
      const In<std::uint64_t>&term_masks, const In<qml::cdouble>&term_coefs
#define QML_BATCH_VALUES                                                                \
  ops, op_qubits, program_ops, program_qubits, program_phases, terms, matrices, phases,  \
      row_qubits, row_pieces, pieces, positions, num_operators, row_opset, opset_terms,  \
      term_masks, term_coefs
// Arrays pass as they are: a wrong dtype or layout is a TypeError, never a copy.
#define QML_BATCH_NAMES \
  "ops"_a.noconvert(), "op_qubits"_a.noconvert(), "program_ops"_a.noconvert(), \
  "program_qubits"_a.noconvert(), "program_phases"_a.noconvert(), "terms"_a.noconvert(), \
  "matrices"_a.noconvert(), "phases"_a.noconvert(), "row_qubits"_a.noconvert(), \
  "row_pieces"_a.noconvert(), "pieces"_a.noconvert(), "positions"_a.noconvert(), \
  "num_operators"_a, "row_opset"_a.noconvert(), "opset_terms"_a.noconvert(), \
  "term_masks"_a.noconvert(), "term_coefs"_a.noconvert()

// Trajectory seeds: one per row, or none when no row runs a noise channel.
void check_seeds(const qml::Batch& b, const In<std::uint64_t>& seeds) {
  if (seeds.size() != b.num_rows() && (seeds.size() != 0 || qml::has_channels(b)))
    throw std::invalid_argument("seeds must have one entry per row (" +
                                std::to_string(b.num_rows()) + "), got " +
                                std::to_string(seeds.size()) +
                                "; they may be empty only for a batch without noise channels");
}

void forward(QML_BATCH_ARGS, const In<std::uint64_t>& seeds, Out<double> expectations,
             Out<qml::cfloat> states, const In<std::int64_t>& state_offsets) {
  const qml::Batch b = make_batch(QML_BATCH_VALUES);
  qml::validate(b);
  check_seeds(b, seeds);
  const bool measure = expectations.size() != 0;
  if (measure && expectations.size() != b.num_rows() * num_operators)
    throw std::invalid_argument("expectations must be [rows, num_operators]");
  const bool keep = states.size() != 0;
  if (keep) check_states(b, states.size(), state_offsets, "states");
  nb::gil_scoped_release release;
  qml::forward(b, seeds.size() ? seeds.data() : nullptr, measure ? expectations.data() : nullptr,
               keep ? states.data() : nullptr, state_offsets.data());
}

void adjoint(QML_BATCH_ARGS, const In<double>& upstream, const In<qml::cfloat>& final_states,
             const In<std::int64_t>& state_offsets, Out<double> phase_gradients) {
  const qml::Batch b = make_batch(QML_BATCH_VALUES);
  qml::validate(b);
  if (qml::has_channels(b))
    throw std::invalid_argument("the adjoint takes programs without noise channels");
  if (phase_gradients.size() != b.phases.size)
    throw std::invalid_argument("phase_gradients must have the size of phases");
  if (upstream.size() != b.num_rows() * num_operators)
    throw std::invalid_argument("upstream must be [rows, num_operators]");
  for (std::size_t i = 0; i < upstream.size(); ++i)
    if (!std::isfinite(upstream.data()[i]))
      throw std::invalid_argument("upstream[" + std::to_string(i) + "] is not finite");
  const bool given = final_states.size() != 0;
  if (given) check_states(b, final_states.size(), state_offsets, "final_states");
  nb::gil_scoped_release release;
  qml::adjoint(b, upstream.data(), given ? final_states.data() : nullptr, state_offsets.data(),
               phase_gradients.data());
}

void sample(QML_BATCH_ARGS, const In<std::uint64_t>& seeds,
            nb::ndarray<std::int8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu> bits) {
  const qml::Batch b = make_batch(QML_BATCH_VALUES);
  qml::validate(b);
  if (seeds.size() != b.num_rows())
    throw std::invalid_argument("seeds must have one entry per row (" +
                                std::to_string(b.num_rows()) + "), got " +
                                std::to_string(seeds.size()));
  if (bits.shape(0) != b.num_rows())
    throw std::invalid_argument("bits must be [rows, repetitions, width]");
  for (std::size_t r = 0; r < b.num_rows(); ++r)
    if (std::size_t(b.row_qubits[r]) > bits.shape(2))
      throw std::invalid_argument("bits: row " + std::to_string(r) + " has " +
                                  std::to_string(b.row_qubits[r]) + " qubits, wider than " +
                                  std::to_string(bits.shape(2)) + " columns");
  nb::gil_scoped_release release;
  qml::sample(b, seeds.data(), std::int64_t(bits.shape(1)), std::int64_t(bits.shape(2)),
              bits.data());
}

// A vector handed to numpy without a copy: the array owns it.
template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& values, std::size_t columns = 1) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  if (columns == 1) return nb::ndarray<nb::numpy, T>(owned->data(), {owned->size()}, owner);
  return nb::ndarray<nb::numpy, T>(owned->data(), {owned->size() / columns, columns}, owner);
}

nb::tuple fuse(const In<std::int64_t>& words, std::int64_t num_ops,
               const In<std::int32_t>& widths, const In<std::int8_t>& roles,
               const In<std::int64_t>& offsets, const In<qml::cdouble>& matrices,
               std::int64_t num_qubits) {
  if (num_ops < 0 || num_qubits < 0)
    throw std::invalid_argument("num_ops and num_qubits must not be negative");
  if (roles.size() != widths.size() || offsets.size() != widths.size())
    throw std::invalid_argument("widths, roles and offsets must have one entry per gate");
  for (std::size_t g = 0; g < widths.size(); ++g) {
    const std::int8_t role = roles.data()[g];
    const std::int32_t width = widths.data()[g];
    if (role < 0 || role >= qml::kNumGateRoles)
      throw std::invalid_argument("roles[" + std::to_string(g) + "] is not a gate role");
    if (width < 1 || width > 63)
      throw std::invalid_argument("widths[" + std::to_string(g) + "] must lie in 1..63");
    if (role != qml::kConstantGate) continue;
    const std::int64_t offset = offsets.data()[g];
    if (width > qml::kMaxTargets || offset < 0 ||
        std::uint64_t(offset) + (std::uint64_t(1) << (2 * width)) > matrices.size())
      throw std::invalid_argument("offsets[" + std::to_string(g) +
                                  "]: the gate's matrix lies outside matrices");
    for (std::int64_t i = 0; i < std::int64_t(1) << (2 * width); ++i)
      if (!std::isfinite(std::abs(matrices.data()[offset + i])))
        throw std::invalid_argument("matrices: gate " + std::to_string(g) +
                                    "'s matrix is not finite");
  }
  const qml::GateTable table{span(widths), span(roles), span(offsets), span(matrices)};
  qml::FusedProgram fused;
  {
    nb::gil_scoped_release release;
    fused = qml::fuse(span(words), num_ops, table, num_qubits);
  }
  std::vector<std::int64_t> error(fused.error, fused.error + 4);
  return nb::make_tuple(to_numpy(std::move(fused.items), qml::kNumItemFields),
                        to_numpy(std::move(fused.qubits)), to_numpy(std::move(fused.steps), 2),
                        to_numpy(std::move(fused.places)), to_numpy(std::move(fused.matrices)),
                        to_numpy(std::move(error)));
}

}  // namespace

NB_MODULE(_qml_core, m) {
  m.doc() = "qml's compiled state-vector core: batches of programs as flat arrays.";
  m.def("forward", &forward, QML_BATCH_NAMES, "seeds"_a.noconvert(), "expectations"_a.noconvert(),
        "states"_a.noconvert(), "state_offsets"_a.noconvert(),
        "Simulates every row (one trajectory of a noisy row, drawn from its seed); fills "
        "expectations and, if not empty, final states.");
  m.def("adjoint", &adjoint, QML_BATCH_NAMES, "upstream"_a.noconvert(),
        "final_states"_a.noconvert(), "state_offsets"_a.noconvert(),
        "phase_gradients"_a.noconvert(),
        "The adjoint sweep; adds d loss / d phase to phase_gradients (laid out as phases).");
  m.def("sample", &sample, QML_BATCH_NAMES, "seeds"_a.noconvert(), "bits"_a.noconvert(),
        "Simulates every row and writes bits[row, shot, qubit] of repetitions measurements.");
  m.def("fuse", &fuse, "words"_a.noconvert(), "num_ops"_a, "widths"_a.noconvert(),
        "roles"_a.noconvert(), "offsets"_a.noconvert(), "matrices"_a.noconvert(),
        "num_qubits"_a,
        "Fuses a circuit's operations into blocks and channels; returns (items, qubits, "
        "steps, places, matrices, error), error[0] != 0 naming the first fault.");
  m.def("simd", []() { return std::string(qml::host_kernels().name); },
        "The SIMD build of the kernels in use: avx512, avx2 or portable.");
  m.def("runnable_kernels", &qml::runnable_kernels,
        "The SIMD builds of the kernels this processor can run, fastest first.");
  m.def("use_kernels", [](const std::string& name) {
    if (!qml::use_kernels(name)) {
      std::string builds;
      for (const auto& build : qml::runnable_kernels()) builds += (builds.empty() ? "" : ", ") + build;
      throw std::invalid_argument("kernels must name a build this processor runs (" + builds +
                                  "), got '" + name + "'");
    }
  }, "name"_a, "Uses the named SIMD build of the kernels from now on.");
  m.def("threading", []() { return std::string(qml::threading()); },
        "How one gate is split among threads: 'openmp', or 'core threads' without OpenMP.");
  m.def("num_threads", &qml::thread_count,
        "The number of threads the core uses.");
  m.def("set_num_threads", [](int threads) {
    if (threads < 1) throw std::invalid_argument("threads must be at least 1, got " + std::to_string(threads));
    qml::set_thread_count(threads);
  }, "threads"_a, "Sets the number of threads the core uses.");
  m.attr("MAX_QUBITS") = qml::kMaxRegisterQubits;
  m.attr("MAX_TARGETS") = qml::kMaxTargets;
  m.attr("MAX_STEPS") = qml::kMaxSteps;
  m.attr("MAX_TILE_OPS") = qml::kMaxTileOps;
  m.attr("MAX_KRAUS") = qml::kMaxKraus;
  m.attr("ITEM_FIELDS") = int(qml::kNumItemFields);
  m.attr("OP_FIELDS") = int(qml::kNumOpFields);
  m.attr("ROW_PARALLEL_MAX_QUBITS") = qml::kRowParallelMaxQubits;
  m.attr("LANES") = qml::kLanes;
}
