"""Train with a cosine learning-rate schedule (with warmup), EarlyStopping and CSVLogger.

The learning rate warms up for one epoch, then follows a cosine down to 1% of
its peak; EarlyStopping watches val_loss and restores the best weights; every
epoch's logs go to a CSV file. Uses the MNIST sample in ../shared/data/mnist
when present, otherwise the generated 8x8 digits of quickstart.py. Run:

    python examples/schedule_and_callbacks.py [--epochs 20] [--csv training_log.csv]
"""
import argparse
import csv
import os
import tempfile

import framework as fw
from framework import layers
from framework.optimizers.schedules import CosineDecay

from quickstart import load_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--csv", default=os.path.join(tempfile.gettempdir(), "framework_training_log.csv"))
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test), description = load_data()
    print(f"Data: {description}")

    batch_size = 128
    steps_per_epoch = -(-int(len(x_train) * 0.9) // batch_size)
    schedule = CosineDecay(initial_learning_rate=0.0, warmup_target=0.003, warmup_steps=steps_per_epoch,
                           decay_steps=steps_per_epoch * (args.epochs - 1), alpha=0.01)
    fw.utils.set_random_seed(0)
    model = fw.Sequential([
        fw.Input(x_train.shape[1:]),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=fw.optimizers.Adam(learning_rate=schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [
        fw.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, verbose=1),
        fw.callbacks.CSVLogger(args.csv),
    ]
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=args.epochs, validation_split=0.1,
                        callbacks=callbacks, verbose=2)

    stopped = callbacks[0].stopped_epoch
    print(f"Ran {len(history.epoch)} epochs" + (f" (EarlyStopping stopped after epoch {stopped + 1})" if stopped else ""))
    print(f"Learning rate now {model.optimizer.learning_rate:.2e} after {model.optimizer.iterations} steps")
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    print(f"{args.csv}: {len(rows)} rows, columns {list(rows[0])}")
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy with the restored best weights: {accuracy:.4f}")


if __name__ == "__main__":
    main()
