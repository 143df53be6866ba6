"""artgan: a TFX pipeline that turns a folder of images into a served GAN."""
