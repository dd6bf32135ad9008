#[path = "../../cli/src/commands/models.rs"]
mod models_cmd;
