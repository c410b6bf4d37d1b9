//! `config`: print the evaluated configuration (what templates see as `cfg`). Evaluates, but
//! writes nothing — not even `CONFIG_JSON_FILE`.

use std::io::Write;

use crate::cli::Global;
use crate::config;
use crate::error::Error;
use crate::wave::Wave;

pub(crate) fn show_config(global: &Global) -> Result<(), Error> {
    let wave = Wave::from_env(global.impl_dir.as_deref())?;
    let config = config::load(&wave, &super::shared::jsonnet_args(global)?)?;
    let _ = std::io::stdout().write_all(config.text.as_bytes());
    Ok(())
}
