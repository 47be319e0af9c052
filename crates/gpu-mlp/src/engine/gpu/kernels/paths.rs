//! A kernel's paths: each way training can make it compute something different (an epilogue, an
//! update rule, a step-record field that scales the work, an input kind), listed as data on the
//! kernel ([`Kernel::PATHS`](super::Kernel::PATHS)) so `verify` can say which it ran and a test
//! can require that it ran them all. Each path names the shader reads (`p.field`, `step.field`,
//! override constants) that select or scale it; a test requires every read a shader makes to be
//! named by a path or by the kernel's [`SHAPE_READS`](super::Kernel::SHAPE_READS).

/// One path of one kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    /// The kernel's `NAME`.
    pub kernel: &'static str,
    /// What the path computes, e.g. `epilogue bias relu dropout`.
    pub name: &'static str,
    /// The shader reads that select or scale it (`p.epilogue`, `step.decay`, `TRANS`).
    pub reads: &'static [&'static str],
}

impl Path {
    pub const fn new(
        kernel: &'static str,
        name: &'static str,
        reads: &'static [&'static str],
    ) -> Self {
        Self {
            kernel,
            name,
            reads,
        }
    }

    /// `matmul: epilogue bias`: how reports name it.
    pub fn id(&self) -> String {
        format!("{}: {}", self.kernel, self.name)
    }
}

/// The uniform and step-record fields (`p.x`, `step.x`) and override constants (`TRANS`) a
/// shader's own source reads, the prelude left out. `MUTANT` is fault injection, not a path.
pub fn shader_reads(source: &str) -> Vec<String> {
    let own = source.strip_prefix(super::PRELUDE_WGSL).unwrap_or(source);
    let mut reads = Vec::new();
    let bytes = own.as_bytes();
    for prefix in ["p.", "step."] {
        for (at, _) in own.match_indices(prefix) {
            let word_start = at == 0 || {
                let c = bytes[at - 1];
                !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            };
            if !word_start {
                continue;
            }
            let rest = &own[at + prefix.len()..];
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !field.is_empty() {
                reads.push(format!("{prefix}{field}"));
            }
        }
    }
    for line in own.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("override ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            reads.push(name);
        }
    }
    reads.sort();
    reads.dedup();
    reads
}

#[cfg(test)]
mod tests {
    use super::super::{gather, matmul, optimizer, softmax_cross_entropy, Kernel};
    use super::*;

    /// Reads of `K`'s shader that neither a path nor the shape reads name.
    fn unlisted<K: Kernel>() -> Vec<String> {
        shader_reads(K::SHADER.source)
            .into_iter()
            .filter(|r| {
                !K::PATHS.iter().any(|p| p.reads.contains(&r.as_str()))
                    && !K::SHAPE_READS.contains(&r.as_str())
            })
            .collect()
    }

    /// Paths and shape reads that name something the shader does not read (a stale list).
    fn stale<K: Kernel>() -> Vec<&'static str> {
        let reads = shader_reads(K::SHADER.source);
        K::PATHS
            .iter()
            .flat_map(|p| p.reads.iter())
            .chain(K::SHAPE_READS)
            .copied()
            .filter(|r| !reads.iter().any(|x| x == r))
            .collect()
    }

    fn check<K: Kernel>() {
        assert_eq!(
            unlisted::<K>(),
            Vec::<String>::new(),
            "{}: the shader reads these, no path of its contract names them: list the path \
             (and check it in verify)",
            K::NAME
        );
        assert_eq!(stale::<K>(), Vec::<&str>::new(), "{}: stale reads", K::NAME);
        for p in K::PATHS {
            assert_eq!(p.kernel, K::NAME, "{}", p.name);
        }
        let mut ids: Vec<String> = K::PATHS.iter().map(Path::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            K::PATHS.len(),
            "{}: a path listed twice",
            K::NAME
        );
    }

    #[test]
    fn every_shader_read_is_named_by_a_path() {
        check::<matmul::Matmul>();
        check::<gather::Gather>();
        check::<softmax_cross_entropy::SoftmaxCrossEntropy>();
        check::<optimizer::OptimizerUpdate>();
    }

    #[test]
    fn a_new_branch_on_a_field_no_path_names_is_found() {
        let source = format!(
            "{}fn f() {{ if p.fresh_mode == 1u {{ x = step.fresh; }} let q = p.m; }}\n\
             override FRESH: u32 = 0u;",
            super::super::PRELUDE_WGSL
        );
        assert_eq!(
            shader_reads(&source),
            ["FRESH", "p.fresh_mode", "p.m", "step.fresh"]
        );
    }

    #[test]
    fn every_mode_variant_has_a_path() {
        let named = |kernel: &str, name: String| {
            super::super::all_paths()
                .iter()
                .any(|p| p.kernel == kernel && p.name == name)
        };
        let listed = |path: Path| named(path.kernel, path.name.to_string());
        for e in matmul::Epilogue::ALL {
            assert!(listed(matmul::path::epilogue(e)), "{e:?}");
        }
        for t in matmul::Transpose::ALL {
            assert!(listed(matmul::path::product(t)), "{t:?}");
        }
    }
}
