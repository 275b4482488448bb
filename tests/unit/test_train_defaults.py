"""Training defaults by task: the study's for regression, classification's for a classifier;
what the user or a preset set is kept, and the run is told which values were defaults."""

from __future__ import annotations

from omegaconf import OmegaConf

from tinyexp.model.train_defaults import CLASSIFICATION_DEFAULTS, choose_training, study_defaults

STUDY = {"epochs": 600, "batch_size": 16, "optimizer": "rmsprop", "loss": "mse", "learning_rate": 0.001}


def test_the_study_defaults_are_conf_train_default() -> None:
    assert study_defaults() == {k: STUDY[k] for k in ("epochs", "batch_size", "optimizer", "loss")}


def test_a_regression_keeps_the_studys_training_and_says_so() -> None:
    choice = choose_training(OmegaConf.create(STUDY), "regression", ["model.neurons=64"])
    assert choice.values == {"epochs": 600, "batch_size": 16, "optimizer": "rmsprop", "loss": "mse"}
    assert choice.describe() == "epochs=600, batch_size=16, optimizer=rmsprop, loss=mse (the study's regression defaults)"


def test_a_classifier_gets_classification_defaults_but_what_was_set() -> None:
    choice = choose_training(OmegaConf.create({**STUDY, "epochs": 7}), "classification", ["train.optimizer=rmsprop"])
    assert choice.values == {"epochs": 7, "batch_size": CLASSIFICATION_DEFAULTS["batch_size"], "optimizer": "rmsprop",
                             "loss": "crossentropy"}
    assert choice.defaulted == ("batch_size", "loss")
    assert choice.describe() == "batch_size=32, loss=crossentropy (classification defaults)"


def test_every_value_set_is_said() -> None:
    cfg = OmegaConf.create({"epochs": 3, "batch_size": 8, "optimizer": "adam", "loss": "mae"})
    assert choose_training(cfg, "regression", []).describe() == "none: every training value was set"
